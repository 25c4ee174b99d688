"""The dashboard in headless Chromium against a real `chiffon serve` process (memory mode)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from playwright.async_api import Request, Route, expect

from tests.ui.conftest import RESULTS, chiffon_server, explained
from tests.ui.dashboard_page import DashboardPage

pytestmark = pytest.mark.e2e  # a real process or a browser: not in the quick suite

SLEEP_3S = '{"seconds": 3, "step_s": 0.5}'
SLEEP_LONG = '{"seconds": 30, "step_s": 0.5}'
RECONNECT_MS = 20_000  # a restart plus the backoff's worst step (10 s) and jitter
TOKEN = "dashboard-test-token"
PERCENT = re.compile(r"^\d{1,3}%$")
SOME_PROGRESS = re.compile(r"^([1-9]\d?|100)%$")
HEARTBEAT_AGE = re.compile(r"^\d+s ago$")


async def test_live_dispatch_cancel_form_errors_and_reconnect(dashboard: DashboardPage) -> None:
    ui, page = dashboard, dashboard.page
    async with chiffon_server("dashboard") as server, explained(ui, "dashboard", server):
        await ui.open(server.base)
        await expect(ui.connection).to_have_text("live")

        # The demo agent, with its resources and a ticking heartbeat age.
        agent = ui.agent_rows().first
        await expect(agent).to_contain_text("demo")
        await expect(agent.locator(".chip")).to_have_text("online")
        await expect(agent.locator(".meter .bar-text").first).to_have_text(PERCENT)
        await expect(agent.locator("td.age")).to_have_text(HEARTBEAT_AGE)

        # A 3 s sleep: running with progress, then completed, no reload.
        sleeper = await ui.dispatch("sleep", SLEEP_3S)
        await expect(ui.chip(sleeper)).to_have_text("running")
        await expect(ui.task_row(sleeper).locator(".bar-text")).to_have_text(SOME_PROGRESS)
        await ui.open_detail(sleeper)
        await expect(ui.chip(sleeper)).to_have_text("completed", timeout=8000)
        await expect(ui.detail.locator("[data-role=result]")).to_contain_text("slept")
        await expect(ui.detail.locator("[data-role=chip]")).to_have_text("completed")
        seen = await ui.history_statuses()
        assert seen[0] == "pending" and "running" in seen and seen[-1] == "completed", seen
        await page.screenshot(path=RESULTS / "dashboard-detail.png")

        # Another sleep, cancelled from the page while it runs.
        doomed = await ui.dispatch("sleep", SLEEP_LONG)
        await expect(ui.chip(doomed)).to_have_text("running")
        await ui.open_detail(doomed)
        await ui.detail.locator("[data-role=cancel]").click()
        await expect(ui.detail.locator("[data-role=cancel-answer]")).to_have_text("cancelled")
        await expect(ui.chip(doomed)).to_have_text("cancelled")
        await expect(ui.task_row(doomed).locator(".why")).to_have_text("stopped")
        await expect(ui.detail.locator("[data-role=cancel]")).to_be_hidden()
        await ui.detail.locator("[data-role=close]").click()
        await expect(ui.detail).to_be_hidden()

        # A handler that fails: its error is what the detail shows.
        failing = await ui.dispatch("fail", '{"message": "disk full"}')
        await expect(ui.chip(failing)).to_have_text("failed")
        await ui.open_detail(failing)
        await expect(ui.detail.locator("[data-role=error]")).to_have_text("disk full")
        await ui.detail.locator("[data-role=close]").click()

        # A task for later (dispatched over the API): the row and the detail say why it waits.
        later = str(uuid.uuid4())
        body = {"task_id": later, "work_type": "echo", "delay_s": 600}
        answer = await page.request.post(f"{server.base}/api/v1/dispatch", data=body)
        assert answer.status == 200, await answer.text()
        await expect(ui.task_row(later).locator(".why")).to_have_text("scheduled")
        await expect(ui.chip(later)).to_have_text("pending")
        await ui.open_detail(later)
        waiting = ui.detail.locator("dt:text-is('Waiting') + dd")
        await expect(waiting).to_contain_text("scheduled until")
        await ui.detail.locator("[data-role=close]").click()
        await page.screenshot(path=RESULTS / "dashboard.png")  # docs/img/dashboard.png

        # Bad input: checked in the page, or refused by the API, shown next to the field.
        await ui.fill_form("echo", "[1, 2]")
        await ui.submit_expecting_error("parameters", "must be a JSON object")
        await ui.fill_form("echo", "{}", priority="9")
        await ui.submit_expecting_error("priority", "less than or equal to 5")
        # A work type that was listed once but no longer routes (its agent went away).
        await ui.fill_form("echo", "{}")
        await page.evaluate("document.getElementById('dispatch-work-type').add(new Option('gone'))")
        await page.select_option("#dispatch-work-type", "gone")
        await ui.submit_expecting_error("work_type", "no agent type serves work_type")

        # The server dies and comes back on the same port: the page follows by itself.
        await server.kill()
        await expect(ui.connection).to_contain_text("disconnected, reconnecting in")
        await server.start()
        await expect(ui.connection).to_have_text("live", timeout=RECONNECT_MS)
        echo = await ui.dispatch("echo", '{"after": "restart"}')
        await expect(ui.chip(echo)).to_have_text("completed")
        await expect(ui.agent_rows()).to_have_count(1)  # the new process's demo agent only
        assert await ui.still_the_same_document(), "the page was reloaded"
        assert not ui.errors, ui.errors


async def test_token_prompt_then_everything_carries_the_token(dashboard: DashboardPage) -> None:
    ui, page = dashboard, dashboard.page
    urls: list[str] = []
    api_calls: list[Request] = []

    def on_request(request: Request) -> None:
        urls.append(request.url)
        if "/api/" in request.url:
            api_calls.append(request)

    page.on("request", on_request)
    page.on("websocket", lambda ws: urls.append(ws.url))
    async with (
        chiffon_server("dashboard-token", CHIFFON_API_TOKEN=TOKEN) as server,
        explained(ui, "dashboard-token", server),
    ):
        await ui.open(server.base)
        dialog = page.locator("#token-dialog")
        await expect(dialog).to_be_visible()
        await expect(dialog).to_contain_text("needs an API token")
        await expect(ui.connection).to_have_text("token needed")

        await page.fill("#token-input", "not-the-token")
        await page.click("#token-dialog button[type=submit]")
        await expect(dialog).to_contain_text("refused that token")

        await page.fill("#token-input", TOKEN)
        await page.click("#token-dialog button[type=submit]")
        await expect(dialog).to_be_hidden()
        await expect(ui.connection).to_have_text("live")
        await expect(ui.agent_rows().first).to_contain_text("demo")
        task_id = await ui.dispatch("echo", '{"hello": "token"}')
        await expect(ui.chip(task_id)).to_have_text("completed")

        stored = await page.evaluate("sessionStorage.getItem('chiffon.apiToken')")
        assert stored == TOKEN
        assert await page.evaluate("localStorage.length") == 0
        assert not [u for u in urls if TOKEN in u], "the token went in a URL"
        authorized = [r for r in api_calls if r.headers.get("authorization")]
        assert authorized and all(
            r.headers["authorization"] == f"Bearer {TOKEN}" for r in authorized[-3:]
        )
        posts = [r for r in api_calls if r.method == "POST"]
        assert posts and all(r.headers["content-type"] == "application/json" for r in posts)
        assert not ui.errors, ui.errors


async def test_a_dispatch_sent_again_after_a_lost_answer_is_one_task(
    dashboard: DashboardPage,
) -> None:
    ui, page = dashboard, dashboard.page
    sent: list[dict[str, Any]] = []

    async def lose_the_first_answer(route: Route) -> None:
        sent.append(route.request.post_data_json)
        if len(sent) == 1:
            await route.fetch()  # the server stores the task...
            await route.abort("connectionreset")  # ...but the page never hears back
        else:
            await route.continue_()

    async with chiffon_server("dashboard-retry") as server, explained(ui, "retry", server):
        await ui.open(server.base)
        await expect(ui.connection).to_have_text("live")
        await page.route("**/api/v1/dispatch", lose_the_first_answer)
        await ui.fill_form("echo", '{"once": true}')
        await page.click("#dispatch-form button[type=submit]")
        await expect(ui.form_status).to_contain_text("cannot reach the server")
        await page.click("#dispatch-form button[type=submit]")
        await expect(ui.form_status).to_contain_text("dispatched echo")
        assert len(sent) == 2 and sent[0]["task_id"] == sent[1]["task_id"], sent
        await expect(ui.chip(sent[0]["task_id"])).to_have_text("completed")
        await expect(page.locator("#tasks-summary")).to_have_text("1 task")
