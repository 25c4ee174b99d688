"""The dashboard under load: many tasks, bursts of changes, filters; and its pure modules."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import expect

from tests.ui.conftest import chiffon_server, explained
from tests.ui.dashboard_page import DashboardPage

pytestmark = pytest.mark.e2e  # a real process or a browser: not in the quick suite

BURST = 600
TRACED = 100
JS = Path(__file__).parent / "js"
TEN_THOUSAND = (JS / "ten_thousand.js").read_text()
MERGE_RULE = (JS / "merge_rule.js").read_text()


async def test_ten_thousand_tasks_keep_500_rows_and_a_burst_renders_in_place(
    dashboard: DashboardPage,
) -> None:
    async with chiffon_server("dashboard-10k") as server, explained(dashboard, "10k", server):
        await dashboard.open(server.base)
        got: dict[str, Any] = await dashboard.page.evaluate(TEN_THOUSAND)
        assert got["rows"] == 500 and got["summary"] == "showing newest 500 of 10,000", got
        assert got["keyed"] and got["newestStatus"] == "running", got
        assert got["newest"].endswith("000000009999"), got
        # Generous bounds for a busy 2-core CI machine; a per-change re-render of 10,000
        # tasks would take seconds.
        assert got["first"] < 2000 and got["burst"] < 500, got


async def test_the_merge_rule_and_the_backoff(dashboard: DashboardPage) -> None:
    async with chiffon_server("dashboard-merge") as server, explained(dashboard, "merge", server):
        await dashboard.open(server.base)
        got: dict[str, Any] = await dashboard.page.evaluate(MERGE_RULE)
        assert [got[k] for k in ("later", "attempt", "running", "terminal", "progress")] == [1] * 5
        assert got["revision"] == 1 and got["olderIgnored"] is None, got
        # A newer summary keeps what never changes (parameters) and leaves result unknown.
        assert "parameters" in got["summaryKeys"] and "result" not in got["summaryKeys"], got
        assert got["filled"] == 7, got
        lows, highs = zip(*got["delays"], strict=True)
        assert min(lows) >= 500 and max(highs) <= 10_000 and highs[-1] > 9000, got["delays"]
        assert list(lows) == sorted(lows), got["delays"]


async def test_a_burst_of_real_work_and_the_filters(dashboard: DashboardPage) -> None:
    ui, page = dashboard, dashboard.page
    async with chiffon_server("dashboard-burst") as server, explained(ui, "burst", server):
        await ui.open(server.base)
        await expect(ui.connection).to_have_text("live")
        await page.evaluate(LONG_TASKS)
        trace = str(uuid.uuid4())
        await dispatch_many(server.base, BURST, trace)
        summary = page.locator("#tasks-summary")
        await expect(summary).to_have_text(f"showing newest 500 of {BURST}", timeout=15_000)
        await expect(page.locator("#tasks-body tr")).to_have_count(500)
        await expect(page.locator("#tasks-body .chip", has_text="completed")).to_have_count(
            500, timeout=15_000
        )

        await page.fill("#filter-trace", trace)
        await page.press("#filter-trace", "Enter")
        await expect(summary).to_have_text(f"{TRACED} tasks ({BURST:,} known)")
        await page.fill("#filter-trace", "")
        await page.press("#filter-trace", "Enter")
        await page.select_option("#filter-work-type", "sleep")
        await expect(summary).to_have_text(f"0 tasks ({BURST:,} known)")
        await expect(page.locator("#tasks-empty")).to_be_visible()
        await page.select_option("#filter-work-type", "")
        await page.select_option("#filter-status", "completed")
        await expect(summary).to_have_text(f"showing newest 500 of {BURST}")

        longest = await page.evaluate("Math.max(0, ...window.__longTasks)")
        assert longest < 1500, f"the page froze for {longest} ms during the burst"
        assert not ui.errors, ui.errors


LONG_TASKS = """() => {
  window.__longTasks = [];
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) window.__longTasks.push(entry.duration);
  }).observe({ type: "longtask" });
}"""


async def dispatch_many(base: str, count: int, trace: str) -> None:
    """`count` echo dispatches, 20 at a time; the first TRACED share one trace id."""
    limit = asyncio.Semaphore(20)

    async def one(http: aiohttp.ClientSession, i: int) -> None:
        body: dict[str, Any] = {"task_id": str(uuid.uuid4()), "work_type": "echo"}
        if i < TRACED:
            body["trace_id"] = trace
        async with limit, http.post(f"{base}/api/v1/dispatch", json=body) as resp:
            assert resp.status == 200, await resp.text()

    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(one(http, i) for i in range(count)))
