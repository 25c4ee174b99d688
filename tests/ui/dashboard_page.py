"""The dashboard as a test sees it: where things are on the page and how to use them."""

from __future__ import annotations

import re

from playwright.async_api import ConsoleMessage, Locator, Page, expect


class DashboardPage:
    def __init__(self, page: Page) -> None:
        self.page = page
        # Uncaught exceptions fail a test; console lines only explain one (a server that is
        # down or a 401 is logged by the browser itself, as it should be).
        self.errors: list[str] = []
        self.console: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", self._console)

    def _console(self, msg: ConsoleMessage) -> None:
        if msg.type in ("error", "warning"):
            self.console.append(f"{msg.type}: {msg.text}")

    @property
    def connection(self) -> Locator:
        return self.page.locator("#conn")

    @property
    def form_status(self) -> Locator:
        return self.page.locator("#dispatch-form [data-role=form-status]")

    @property
    def detail(self) -> Locator:
        return self.page.locator("#detail")

    def field_error(self, field: str) -> Locator:
        return self.page.locator(f"#dispatch-form [data-error-for={field}]")

    def agent_rows(self) -> Locator:
        return self.page.locator("#agents-body tr")

    def task_row(self, task_id: str) -> Locator:
        return self.page.locator(f'#tasks-body tr[data-task-id="{task_id}"]')

    def chip(self, task_id: str) -> Locator:
        return self.task_row(task_id).locator(".chip")

    async def open(self, base: str) -> None:
        await self.page.goto(f"{base}/")
        await expect(self.page).to_have_url(f"{base}/ui/")
        # Survives only if the page is never reloaded: checked at the end of a test.
        await self.page.evaluate("window.__sameDocument = true")

    async def still_the_same_document(self) -> bool:
        return bool(await self.page.evaluate("window.__sameDocument === true"))

    async def dispatch(
        self, work_type: str, parameters: str = "{}", priority: str = "3", timeout_s: str = ""
    ) -> str:
        """Fill the form and submit; returns the new task's id once its row is shown."""
        await self.fill_form(work_type, parameters, priority, timeout_s)
        await self.page.click("#dispatch-form button[type=submit]")
        await expect(self.form_status).to_contain_text(f"dispatched {work_type}")
        text = await self.form_status.inner_text()
        short = re.search(r"dispatched \S+ ([0-9a-f]{8})", text)
        assert short, f"no task id in the form's answer: {text!r}"
        row = self.page.locator(f'#tasks-body tr[data-task-id^="{short.group(1)}"]')
        await expect(row).to_have_count(1)
        task_id = await row.get_attribute("data-task-id")
        assert task_id is not None
        return task_id

    async def fill_form(
        self, work_type: str, parameters: str = "{}", priority: str = "3", timeout_s: str = ""
    ) -> None:
        await self.page.select_option("#dispatch-work-type", work_type)
        await self.page.fill("#dispatch-parameters", parameters)
        await self.page.fill("#dispatch-priority", priority)
        await self.page.fill("#dispatch-timeout", timeout_s)

    async def submit_expecting_error(self, field: str, says: str) -> None:
        await self.page.click("#dispatch-form button[type=submit]")
        await expect(self.field_error(field)).to_contain_text(says)
        invalid = self.page.locator(f'#dispatch-form [name="{field}"]')
        await expect(invalid).to_have_attribute("aria-invalid", "true")

    async def open_detail(self, task_id: str) -> None:
        await self.task_row(task_id).locator("td.work-type").click()
        await expect(self.detail).to_be_visible()
        await expect(self.detail.locator("[data-role=task-id]")).to_have_text(task_id)

    async def history_statuses(self) -> list[str]:
        chips = self.detail.locator("[data-role=history] .chip")
        return [s.strip() for s in await chips.all_inner_texts()]
