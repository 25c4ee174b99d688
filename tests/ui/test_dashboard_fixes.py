"""Dashboard bugs an operator tripped on (issue 22), each pinned by what the browser shows."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.async_api import Browser, expect

from tests.ui.conftest import WAIT_MS, chiffon_server, explained
from tests.ui.dashboard_page import DashboardPage

pytestmark = pytest.mark.e2e  # a real process or a browser: not in the quick suite

CLOCK = re.compile(r"^\d\d:\d\d:\d\d\.\d{3}$")
DEMO_WORK = re.compile(r"^(echo|fail|sleep)$")


async def test_history_says_when_each_change_was_seen(dashboard: DashboardPage) -> None:
    ui = dashboard
    async with chiffon_server("fix-history") as server, explained(ui, "fix-history", server):
        await ui.open(server.base)
        await expect(ui.connection).to_have_text("live")
        task_id = await ui.dispatch("sleep", '{"seconds": 0.4, "step_s": 0.1}')
        await expect(ui.chip(task_id)).to_have_text("completed")
        await ui.open_detail(task_id)
        seen_at = ui.detail.locator("[data-role=history] tr td:first-child")
        await expect(seen_at.last).to_have_text(CLOCK)
        assert all(CLOCK.match(t) for t in await seen_at.all_inner_texts())


async def test_the_form_picks_a_work_type_an_agent_serves_and_flags_the_others(
    dashboard: DashboardPage,
) -> None:
    ui, page = dashboard, dashboard.page
    async with chiffon_server("fix-default") as server, explained(ui, "fix-default", server):
        await ui.open(server.base)
        await expect(ui.agent_rows().first).to_contain_text("demo")
        select = page.locator("#dispatch-work-type")
        await expect(select).to_have_value(DEMO_WORK)
        await expect(select.locator("option[value=ansible]")).to_contain_text("no agent")
        await expect(select.locator("option[value=echo]")).not_to_contain_text("no agent")
        note = page.locator("#dispatch-form [data-role=work-type-note]")
        await expect(note).to_be_hidden()
        await page.select_option("#dispatch-work-type", "ansible")
        await expect(note).to_contain_text("no live agent of type infra")


async def test_the_detail_panel_shows_its_history_whole(dashboard: DashboardPage) -> None:
    ui, page = dashboard, dashboard.page
    async with chiffon_server("fix-detail") as server, explained(ui, "fix-detail", server):
        await ui.open(server.base)
        await expect(ui.connection).to_have_text("live")
        message = "a progress message long enough to push the history table past the edge"
        params = f'{{"seconds": 0.3, "step_s": 0.1, "message": "{message}"}}'
        task_id = await ui.dispatch("sleep", params)
        await expect(ui.chip(task_id)).to_have_text("completed")
        await ui.open_detail(task_id)
        await expect(ui.detail.locator("[data-role=history] tr").last).to_be_visible()
        overflow = await page.evaluate(
            "(() => { const d = document.getElementById('detail');"
            " const t = d.querySelector('table.history').getBoundingClientRect();"
            " return {scroll: d.scrollWidth - d.clientWidth,"
            " right: t.right - d.getBoundingClientRect().right}; })()"
        )
        assert overflow["scroll"] <= 0 and overflow["right"] <= 0, overflow


async def test_at_420_px_nothing_is_cut_off(browser: Browser) -> None:
    context = await browser.new_context(viewport={"width": 420, "height": 800})
    page = await context.new_page()
    page.set_default_timeout(WAIT_MS)
    ui = DashboardPage(page)
    try:
        async with chiffon_server("fix-narrow") as server, explained(ui, "fix-narrow", server):
            await ui.open(server.base)
            await expect(ui.connection).to_have_text("live")
            task_id = await ui.dispatch("sleep", '{"seconds": 30}')
            await expect(ui.chip(task_id)).to_have_text("running")
            page_width = await page.evaluate("document.documentElement.scrollWidth")
            assert page_width <= 420, f"the page is {page_width} px wide in a 420 px window"
            # Every column of the row can be reached (the table scrolls, the page does not).
            cancel = ui.task_row(task_id).locator("[data-action=cancel]")
            await cancel.scroll_into_view_if_needed()
            await expect(cancel).to_be_in_viewport()
            await cancel.click()
            await expect(ui.chip(task_id)).to_have_text("cancelled")
            await ui.open_detail(task_id)
            box = await ui.detail.bounding_box()
            assert box is not None and box["x"] >= 0 and box["width"] <= 420, box
            await page.screenshot(path="test-results/dashboard-420.png")
    finally:
        await context.close()


async def test_times_carry_their_zone_and_switch_between_utc_and_local(browser: Browser) -> None:
    context = await browser.new_context(
        viewport={"width": 1280, "height": 800}, timezone_id="Asia/Kolkata"
    )
    page = await context.new_page()
    page.set_default_timeout(WAIT_MS)
    ui = DashboardPage(page)
    try:
        async with chiffon_server("fix-zone") as server, explained(ui, "fix-zone", server):
            await ui.open(server.base)
            await expect(ui.connection).to_have_text("live")
            task_id = await ui.dispatch("echo")
            await expect(ui.chip(task_id)).to_have_text("completed")
            await ui.open_detail(task_id)
            created = ui.detail.locator("dt:text-is('Created') + dd")
            await expect(created).to_have_text(re.compile(r" UTC\+05:30$"))
            local = await created.inner_text()
            switch = page.locator("#time-zone")
            await expect(switch).to_contain_text("local")
            await switch.click()
            await expect(switch).to_have_text("UTC")
            await expect(created).to_have_text(re.compile(r" UTC$"))
            utc = await created.inner_text()
            # The same instant: 5 h 30 min apart on the clock.
            hours = int(local[11:13]) * 60 + int(local[14:16])
            assert (hours - (int(utc[11:13]) * 60 + int(utc[14:16]))) % 1440 == 330, (local, utc)
            await expect(ui.detail.locator("[data-role=history-zone]")).to_have_text("(UTC)")
            await page.reload()  # the choice is kept
            await expect(page.locator("#time-zone")).to_have_text("UTC")
    finally:
        await context.close()


async def test_search_by_text_and_id_prefix_is_answered_by_the_server(
    dashboard: DashboardPage,
) -> None:
    ui, page = dashboard, dashboard.page
    async with chiffon_server("search") as server, explained(ui, "search", server):
        await ui.open(server.base)
        await expect(ui.connection).to_have_text("live")
        made = {}
        for host in ("alpha-01", "beta-02", "gamma-03"):
            made[host] = await ui.dispatch("echo", f'{{"host": "{host}"}}')
        for task_id in made.values():
            await expect(ui.chip(task_id)).to_have_text("completed")
        rows = page.locator("#tasks-body tr")
        await expect(rows).to_have_count(3)
        await page.fill("#filter-q", "BETA")
        await page.press("#filter-q", "Enter")
        await expect(rows).to_have_count(1)
        await expect(ui.task_row(made["beta-02"])).to_be_visible()
        await page.fill("#filter-q", "")
        await page.press("#filter-q", "Enter")
        await expect(rows).to_have_count(3)
        await page.fill("#filter-id", made["gamma-03"][:7])
        await page.press("#filter-id", "Enter")
        await expect(rows).to_have_count(1)
        await expect(ui.task_row(made["gamma-03"])).to_be_visible()
        await page.fill("#filter-id", "not hex")
        await page.press("#filter-id", "Enter")
        await expect(page.locator("#filter-id")).to_have_attribute("aria-invalid", "true")
        await page.fill("#filter-id", "")
        await page.press("#filter-id", "Enter")
        await page.select_option("#filter-since", "900")
        await expect(rows).to_have_count(3)
        assert not ui.errors, ui.errors


async def test_rerun_from_the_detail_and_cancel_a_selection(dashboard: DashboardPage) -> None:
    ui, page = dashboard, dashboard.page
    async with chiffon_server("rerun") as server, explained(ui, "rerun", server):
        await ui.open(server.base)
        await expect(ui.connection).to_have_text("live")
        first = await ui.dispatch("echo", '{"again": true}')
        await expect(ui.chip(first)).to_have_text("completed")
        await ui.open_detail(first)
        await expect(ui.detail.locator("[data-role=cancel]")).to_be_hidden()
        await ui.detail.locator("[data-role=rerun]").click()
        rerun_of = ui.detail.locator("dt:text-is('Rerun of') + dd")
        await expect(rerun_of).to_have_text(first)  # the detail now shows the new task
        new_id = await ui.detail.locator("[data-role=task-id]").inner_text()
        assert new_id != first
        await expect(ui.chip(new_id)).to_have_text("completed")
        await expect(ui.detail.locator("[data-role=result]")).to_contain_text('"again": true')
        await ui.detail.locator("[data-role=close]").click()

        waiting = [str(uuid.uuid4()) for _ in range(3)]
        for task_id in waiting:
            body = {"task_id": task_id, "work_type": "ansible"}
            answer = await page.request.post(f"{server.base}/api/v1/dispatch", data=body)
            assert answer.status == 200, await answer.text()
        for task_id in waiting:
            await expect(ui.chip(task_id)).to_have_text("pending")
        bulk = page.locator("#bulk")
        await expect(bulk).to_be_hidden()
        for task_id in waiting[:2]:
            await ui.task_row(task_id).locator("[data-action=pick]").check()
        await expect(page.locator("#bulk-count")).to_have_text("2 selected")
        await expect(ui.detail).to_be_hidden()  # ticking a row does not open it
        await page.click("#bulk-cancel")
        for task_id in waiting[:2]:
            await expect(ui.chip(task_id)).to_have_text("cancelled")
        await expect(bulk).to_be_hidden()
        await expect(page.locator("#notice")).to_contain_text("cancelled 2 of 2")
        await expect(ui.chip(waiting[2])).to_have_text("pending")
        assert not ui.errors, ui.errors


async def test_activity_charts_draw_the_stats_and_follow_new_work(
    dashboard: DashboardPage,
) -> None:
    ui, page = dashboard, dashboard.page
    async with chiffon_server("stats") as server, explained(ui, "stats", server):
        await ui.open(server.base)
        await expect(ui.connection).to_have_text("live")
        for _ in range(2):
            await expect(ui.chip(await ui.dispatch("echo"))).to_have_text("completed")
        failed = await ui.dispatch("fail")
        await expect(ui.chip(failed)).to_have_text("failed")
        legend = page.locator("#activity [data-role=throughput-legend]")
        await expect(legend).to_contain_text("completed 2 · failed 1", timeout=8000)
        await expect(page.locator("#chart-throughput rect.completed")).not_to_have_count(0)
        await expect(page.locator("#chart-throughput rect.failed")).not_to_have_count(0)
        await expect(page.locator("#chart-runtime polyline.p95")).to_have_count(1)
        # Live: a task dispatched elsewhere shows up in the next refresh, no reload.
        body = {"task_id": str(uuid.uuid4()), "work_type": "ansible"}
        await page.request.post(f"{server.base}/api/v1/dispatch", data=body)
        queue = page.locator("#activity [data-role=queue-legend]")
        await expect(queue).to_contain_text("pending now: infra 1", timeout=8000)
        await expect(page.locator("#chart-queue polyline")).not_to_have_count(0)
        await page.select_option("#activity [data-role=window]", "24h")
        await expect(legend).to_contain_text("dispatched 4")
        assert await ui.still_the_same_document()
        assert not ui.errors, ui.errors


async def test_the_detail_draws_each_attempt_to_scale_with_reasons(
    dashboard: DashboardPage,
) -> None:
    ui, page = dashboard, dashboard.page
    async with chiffon_server("attempts") as server, explained(ui, "attempts", server):
        await ui.open(server.base)
        await expect(ui.connection).to_have_text("live")
        task_id = str(uuid.uuid4())
        body = {
            "task_id": task_id,
            "work_type": "fail",
            "parameters": {"message": "disk full"},
            "retry": {"max_attempts": 2, "on": ["failed"], "backoff_s": 0.5},
        }
        answer = await page.request.post(f"{server.base}/api/v1/dispatch", data=body)
        assert answer.status == 200, await answer.text()
        await expect(ui.chip(task_id)).to_have_text("failed", timeout=8000)
        await ui.open_detail(task_id)
        attempts = ui.detail.locator("[data-role=attempts]")
        await expect(attempts.locator(".attempt-row")).to_have_count(2)
        notes = attempts.locator("li")
        await expect(notes.first).to_contain_text("attempt 1: waited")
        texts = await notes.all_inner_texts()
        assert any(t.startswith("attempt 1: ran") and "failed" in t for t in texts), texts
        assert any("attempt 2: waited" in t and "retry backoff" in t for t in texts), texts
        assert texts[-1].startswith("attempt 2: ran") and "failed: disk full" in texts[-1], texts
        # To scale: attempt 2's wait (0.5 s backoff) is wider than attempt 1's.
        widths = await attempts.locator(".segment.waiting").evaluate_all(
            "els => els.map(e => e.getBoundingClientRect().width)"
        )
        assert len(widths) == 2 and widths[1] > widths[0], widths
        assert not ui.errors, ui.errors


async def test_an_agent_page_shows_its_tasks_counts_and_resources(
    dashboard: DashboardPage,
) -> None:
    ui, page = dashboard, dashboard.page
    async with chiffon_server("agent-page") as server, explained(ui, "agent-page", server):
        await ui.open(server.base)
        await expect(ui.connection).to_have_text("live")
        for _ in range(2):
            await expect(ui.chip(await ui.dispatch("echo"))).to_have_text("completed")
        failed = await ui.dispatch("fail")
        await expect(ui.chip(failed)).to_have_text("failed")
        await ui.agent_rows().first.click()
        panel = page.locator("#agent-detail")
        await expect(panel).to_be_visible()
        await expect(panel.locator("[data-role=chip]")).to_have_text("online")
        await expect(panel.locator("dt:text-is('Serves') + dd")).to_contain_text("echo")
        await expect(panel.locator("[data-role=counts]")).to_contain_text(
            "3 tasks: running 0 · completed 2 · failed 1"
        )
        await expect(panel.locator("[data-role=tasks] tr")).to_have_count(3)
        # Resources over time: a point per heartbeat this page sees (one every 0.5 s here).
        legend = panel.locator("[data-role=resources-legend]")
        await expect(legend).to_contain_text(re.compile(r"CPU \d+%"))
        await expect(legend).to_contain_text(re.compile(r"([3-9]|\d\d+) heartbeats"))
        points = await panel.locator("polyline.cpu").get_attribute("points")
        assert points is not None and len(points.split()) >= 3, points
        # A task of the agent opens the task's detail.
        await panel.locator(f'[data-role=tasks] tr[data-task-id="{failed}"]').click()
        await expect(ui.detail.locator("[data-role=task-id]")).to_have_text(failed)
        await expect(panel).to_be_hidden()
        assert not ui.errors, ui.errors


async def test_dark_mode_follows_the_system_and_screenshots(browser: Browser) -> None:
    """Light and dark, the same page; test-results/docs-*.png are docs/img/dashboard*.png."""
    colors = {}
    async with chiffon_server("dark") as server:
        for scheme in ("light", "dark"):
            context = await browser.new_context(
                viewport={"width": 1280, "height": 900}, color_scheme=scheme
            )
            page = await context.new_page()
            page.set_default_timeout(WAIT_MS)
            ui = DashboardPage(page)
            try:
                async with explained(ui, f"dark-{scheme}", server):
                    await ui.open(server.base)
                    await expect(ui.connection).to_have_text("live")
                    if scheme == "light":  # some history for both pictures
                        await ui.dispatch("sleep", '{"seconds": 60, "step_s": 1}')
                        for work, params in (("echo", "{}"), ("fail", "{}"), ("echo", "{}")):
                            await ui.dispatch(work, params)
                        await ui.dispatch("ansible")
                    await expect(page.locator("#tasks-body tr")).to_have_count(5)
                    await expect(
                        page.locator("#activity [data-role=throughput-legend]")
                    ).to_contain_text("dispatched 5", timeout=8000)
                    colors[scheme] = await page.evaluate(
                        "[getComputedStyle(document.documentElement).backgroundColor,"
                        " getComputedStyle(document.querySelector('.panel')).color]"
                    )
                    await page.screenshot(path=f"test-results/docs-{scheme}.png")
                    rows = page.locator("#tasks-body tr td.work-type")
                    await rows.filter(has_text="fail").first.click()
                    await expect(ui.detail).to_be_visible()
                    await expect(ui.detail.locator(".attempt-row")).to_have_count(1)
                    await page.screenshot(path=f"test-results/docs-detail-{scheme}.png")
                    assert not ui.errors, ui.errors
            finally:
                await context.close()
    assert colors["light"][0] == "rgb(246, 247, 249)", colors
    assert colors["dark"][0] == "rgb(18, 21, 27)", colors
    assert colors["dark"][1] == "rgb(227, 231, 238)", colors  # light text on dark panels
