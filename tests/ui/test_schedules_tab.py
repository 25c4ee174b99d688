"""The dashboard's Schedules tab in headless Chromium against a real `chiffon serve` process:
schedules listed with their next fire time and last runs, pause / resume / trigger from the
page, and every change (made here, through the API, or by the scheduler) shown live."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest
from playwright.async_api import expect

from tests.ui.conftest import RESULTS, chiffon_server, explained
from tests.ui.dashboard_page import DashboardPage

pytestmark = pytest.mark.e2e  # a real process or a browser: not in the quick suite

TIME = re.compile(r"\d\d:\d\d:\d\d")


async def api(base: str, method: str, path: str, body: Any = None) -> Any:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, f"{base}{path}", json=body) as answer,
    ):
        assert answer.status < 300, await answer.text()
        return None if answer.status == 204 else await answer.json()


async def test_schedules_tab_lists_acts_and_follows_live(dashboard: DashboardPage) -> None:
    ui, page = dashboard, dashboard.page
    async with chiffon_server("schedules-tab") as server, explained(ui, "schedules-tab", server):
        hourly = {"interval_s": 3600, "work_type": "echo", "note": "nightly backup"}
        first = await api(server.base, "POST", "/api/v1/schedules", hourly)
        await ui.open(server.base)
        await expect(ui.connection).to_have_text("live")
        await expect(page.locator("#schedules-panel")).to_be_hidden()
        await page.locator("#tab-schedules").click()
        await expect(page.locator("#schedules-panel")).to_be_visible()
        await expect(page.locator("#tasks-panel")).to_be_hidden()
        await expect(page.locator("#tab-schedules")).to_have_attribute("aria-selected", "true")

        row = page.locator(f'#schedules-body tr[data-schedule-id="{first["schedule_id"]}"]')
        await expect(row).to_contain_text("nightly backup")
        await expect(row.locator("td.when")).to_have_text("every 3600 s")
        await expect(row.locator("td.next")).to_have_text(TIME)
        await expect(row.locator(".chip[data-status]").last).to_have_text("active")
        await expect(row.locator("td.last-runs")).to_have_text("none yet")

        # Trigger from the page: its run appears among the last runs and completes.
        await row.locator("button[data-action=trigger]").click()
        await expect(page.locator("#notice")).to_contain_text("triggered task")
        run = row.locator("td.last-runs .chip.run").first
        await expect(run).to_have_text("completed")

        # Pause and resume from the page.
        await row.locator("button[data-action=pause]").click()
        await expect(row.locator("td.next")).to_have_text("paused")
        await expect(row.locator("button[data-action=resume]")).to_have_text("Resume")
        await row.locator("button[data-action=resume]").click()
        await expect(row.locator("td.next")).to_have_text(TIME)
        await expect(row.locator("button[data-action=pause]")).to_have_text("Pause")

        # Changes made elsewhere arrive live: a schedule created, fired by the scheduler
        # every second, paused through the API, then deleted.
        every_second = {"interval_s": 1, "work_type": "echo", "note": "ticker"}
        ticker = await api(server.base, "POST", "/api/v1/schedules", every_second)
        other = page.locator(f'#schedules-body tr[data-schedule-id="{ticker["schedule_id"]}"]')
        await expect(other).to_contain_text("ticker")
        await expect(other.locator("td.runs")).not_to_have_text("0", timeout=8000)
        await expect(other.locator("td.last-runs .chip.run").first).to_be_visible()
        await api(server.base, "POST", f"/api/v1/schedules/{ticker['schedule_id']}/pause", {})
        await expect(other.locator("td.next")).to_have_text("paused")
        await expect(page.locator("#schedules-count")).to_have_text("2, 1 paused")
        await page.screenshot(path=RESULTS / "schedules-tab.png")
        await api(server.base, "DELETE", f"/api/v1/schedules/{ticker['schedule_id']}")
        await expect(other).to_have_count(0)
        await expect(page.locator("#schedules-body tr")).to_have_count(1)

        # A run opens the task's detail; the Tasks tab comes back as it was.
        await run.click()
        await expect(ui.detail).to_be_visible()
        await expect(ui.detail.locator("[data-role=chip]")).to_have_text("completed")
        await expect(ui.detail.locator("dl.fields")).to_contain_text("Schedule")
        await ui.detail.locator("[data-role=close]").click()
        await page.locator("#tab-tasks").click()
        await expect(page.locator("#tasks-panel")).to_be_visible()
        await expect(page.locator("#schedules-panel")).to_be_hidden()
        assert await ui.still_the_same_document(), "the page was reloaded"
        assert not ui.errors, ui.errors
