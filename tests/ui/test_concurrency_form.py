"""Concurrency keys from the dashboard in headless Chromium against a real `chiffon serve`:
a keyed dispatch from the form waits (concurrency limit) while another task holds its key,
a bad limit is refused next to the key's box, and the waiting task runs once the key is free."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.ui.conftest import chiffon_server, explained
from tests.ui.dashboard_page import DashboardPage
from tests.ui.test_dashboard_schedules import api

pytestmark = pytest.mark.e2e  # a real process or a browser: not in the quick suite


async def test_a_keyed_dispatch_from_the_form_waits_for_its_key(dashboard: DashboardPage) -> None:
    ui, page = dashboard, dashboard.page
    async with chiffon_server("concurrency-form") as server, explained(ui, "concurrency", server):
        await ui.open(server.base)
        await expect(ui.connection).to_have_text("live")
        await page.fill("#dispatch-concurrency-key", "db-1")
        first = await ui.dispatch("sleep", '{"seconds": 30, "step_s": 0.5}')
        second = await ui.dispatch("sleep", '{"seconds": 30, "step_s": 0.5}')
        await expect(ui.chip(first)).to_have_text("running")
        await expect(ui.chip(second)).to_have_text("pending")
        await expect(ui.task_row(second).locator(".why")).to_have_text("concurrency limit")
        await ui.open_detail(second)
        fields = ui.detail.locator("dl.fields")
        await expect(fields).to_contain_text("db-1 · max 1 running · not admitted yet")
        # A bad limit is refused next to the key's box, with the API's words.
        await page.fill("#dispatch-max-running", "0")
        await page.click("#dispatch-form button[type=submit]")
        await expect(ui.field_error("concurrency_key")).to_contain_text("max_running")
        # The first ends (cancelled, its agent confirms): the second gets the slot and runs.
        await ui.detail.locator("[data-role=close]").click()
        await api(server.base, "POST", f"/api/v1/cancel/{first}", {})
        await expect(ui.chip(second)).to_have_text("running", timeout=8000)
        await api(server.base, "POST", f"/api/v1/cancel/{second}", {})
        assert not ui.errors, ui.errors
