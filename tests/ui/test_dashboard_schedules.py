"""The dashboard's schedules panel: each schedule with its timing, next fire and runs, its
actions (pause, resume, trigger now) doing what they say, and its last runs opening tasks."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest
from playwright.async_api import expect

from tests.ui.conftest import WAIT_MS, chiffon_server, explained
from tests.ui.dashboard_page import DashboardPage

pytestmark = pytest.mark.e2e  # a real process and a browser: not in the quick suite


async def api(base: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, base + path, json=body) as resp,
    ):
        assert resp.status < 300, await resp.text()
        return await resp.json()


async def test_schedules_are_listed_paused_resumed_and_triggered_from_the_page(
    dashboard: DashboardPage,
) -> None:
    ui, page = dashboard, dashboard.page
    async with chiffon_server("schedules") as server, explained(ui, "schedules", server):
        made = await api(
            server.base,
            "POST",
            "/api/v1/schedules",
            {"work_type": "echo", "interval_s": 1, "parameters": {"from": "a schedule"}},
        )
        sid = made["schedule_id"]
        await api(
            server.base,
            "POST",
            "/api/v1/schedules",
            {
                "work_type": "echo",
                "cron": "0 3 * * *",
                "timezone": "Europe/Paris",
                "note": "nightly",
            },
        )
        await ui.open(server.base)
        row = page.locator(f'#schedules tr[data-schedule-id="{sid}"]')
        await expect(row).to_contain_text("every 1s")
        await expect(row.locator(".chip")).to_have_text("active")
        nightly = page.locator("#schedules tr.schedule-row", has_text="nightly")
        await expect(nightly).to_contain_text("0 3 * * * (Europe/Paris)")
        # It fires on its own: the panel's run count and last run follow (read every 5 s).
        await expect(row.locator("td").nth(4)).not_to_have_text("0", timeout=3 * WAIT_MS)
        await expect(row.locator("a[data-task-id]")).to_be_visible()

        await row.locator("button[data-action=pause]").click()
        await expect(row.locator(".chip")).to_have_text("paused")
        assert (await api(server.base, "GET", f"/api/v1/schedules/{sid}"))["paused"] is True
        runs_when_paused = (await api(server.base, "GET", f"/api/v1/schedules/{sid}"))["runs"]

        await row.locator("button[data-action=trigger]").click()
        await expect(page.locator("#notice")).to_contain_text(re.compile(r"fired task \w+"))
        await row.locator("button[data-action=resume]").click()
        await expect(row.locator(".chip")).to_have_text("active")
        after = await api(server.base, "GET", f"/api/v1/schedules/{sid}")
        assert (
            after["paused"] is False and after["runs"] >= runs_when_paused
        )  # trigger is not a run

        # Its last runs, each opening the task's detail.
        await row.locator("td").first.click()
        runs = page.locator(f'#schedules tr[data-schedule-id="{sid}"] + tr.schedule-runs')
        await expect(runs.locator("li").first).to_contain_text("completed")
        first = runs.locator("a[data-task-id]").first
        task_id = await first.get_attribute("data-task-id")
        await first.click()
        await expect(ui.detail).to_be_visible()
        await expect(ui.detail).to_contain_text(str(task_id)[:8])
        assert ui.errors == []
