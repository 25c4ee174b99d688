"""The dashboard and the API docs in headless Chromium under chiffon's Content-Security-Policy:
they work with no violation, Swagger UI renders chiffon's document whatever `?url=` says, and
no other page may frame them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlparse

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, expect

from tests.ui.conftest import WAIT_MS, chiffon_server, explained
from tests.ui.dashboard_page import DashboardPage

pytestmark = pytest.mark.e2e  # a real process and a browser

EVIL = "https://evil.example/openapi.json"


class Watched:
    """A page whose CSP violations (Chromium reports each on the console) and requests are
    kept, to be asserted on."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.violations: list[str] = []
        self.violated = asyncio.Event()
        self.requests: list[str] = []
        page.on("console", self._console)
        page.on("request", lambda request: self.requests.append(request.url))

    def _console(self, msg: ConsoleMessage) -> None:
        if "Content Security Policy" in msg.text or "Content-Security-Policy" in msg.text:
            self.violations.append(msg.text)
            self.violated.set()


@pytest.fixture
async def watched(browser: Browser) -> AsyncIterator[Watched]:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    page.set_default_timeout(WAIT_MS)
    try:
        yield Watched(page)
    finally:
        await context.close()


async def test_the_dashboard_runs_under_the_csp(watched: Watched) -> None:
    ui = DashboardPage(watched.page)
    async with chiffon_server("csp-dashboard") as server, explained(ui, "csp-dashboard", server):
        await ui.open(server.base)
        await expect(ui.connection).to_have_text("live")  # the WebSocket, under connect-src
        task = await ui.dispatch("echo", '{"n": 1}')
        await expect(ui.chip(task)).to_have_text("completed")
        await ui.open_detail(task)
        await expect(ui.detail.locator("[data-role=result]")).to_contain_text('"n"')
        assert watched.violations == [] and ui.errors == [], (watched.violations, ui.errors)


async def test_the_api_docs_run_under_the_csp_and_ignore_a_url_in_the_query(
    watched: Watched,
) -> None:
    page = watched.page
    async with chiffon_server("csp-docs") as server:
        await page.goto(f"{server.base}/api/docs?url={EVIL}&configUrl={EVIL}")
        await expect(page.locator(".information-container .title")).to_contain_text("chiffon")
        await expect(page.locator(".opblock-summary-path").first).to_be_visible()
        assert "?" not in page.url, page.url  # the query is gone from the address
        fetched = [url for url in watched.requests if urlparse(url).hostname == "evil.example"]
        assert fetched == [], fetched
        assert watched.violations == [], watched.violations


@pytest.mark.parametrize("path", ["/ui/", "/api/docs"])
async def test_another_site_cannot_frame_the_pages(watched: Watched, path: str) -> None:
    page = watched.page
    async with chiffon_server("csp-frame") as server:
        await page.goto(f"{server.base}/health")  # any page of ours, to share nothing else
        await page.set_content(f'<iframe id="f" src="{server.base}{path}"></iframe>')
        await asyncio.wait_for(watched.violated.wait(), WAIT_MS / 1000)
        assert "frame-ancestors" in watched.violations[0], watched.violations
        frame = page.frame_locator("#f")
        await expect(frame.locator("#conn, #swagger-ui")).to_have_count(0)
