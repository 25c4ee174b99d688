"""Browser tests: a real `python -m chiffon serve` process and headless Debian Chromium,
driven by Playwright. Every wait is bounded; a failure shows what was on the page."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO

import aiohttp
import pytest
from playwright.async_api import Browser, async_playwright, expect

from tests.ui.dashboard_page import DashboardPage

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "test-results"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
WAIT_MS = 5000
expect.set_options(timeout=WAIT_MS)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ChiffonServer:
    """`python -m chiffon serve` in memory mode (demo agent in process), startable again on
    the same port; its output goes to a file so a failure can show it."""

    def __init__(self, port: int, env: dict[str, str], log_path: Path) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self._env = env
        self._log_path = log_path
        self._log: IO[bytes] | None = None
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self._log = self._log_path.open("ab")
        clean = {k: v for k, v in os.environ.items() if not k.startswith("CHIFFON_")}
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "chiffon",
            "serve",
            "--port",
            str(self.port),
            cwd=ROOT,
            env={**clean, "CHIFFON_HEARTBEAT_INTERVAL_S": "0.5", **self._env},
            stdout=self._log,
            stderr=asyncio.subprocess.STDOUT,
        )
        await self._until_healthy(15.0)

    async def kill(self) -> None:
        """SIGKILL: the page sees the connection drop as it would on a crash."""
        if self._proc is not None and self._proc.returncode is None:
            self._proc.send_signal(signal.SIGKILL)
            await asyncio.wait_for(self._proc.wait(), 10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, chars: int = 3000) -> str:
        return self._log_path.read_text(errors="replace")[-chars:]

    async def _until_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                assert self._proc is not None
                if self._proc.returncode is not None:
                    raise AssertionError(f"chiffon serve exited:\n{self.log_tail()}")
                try:
                    async with http.get(f"{self.base}/health") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"chiffon serve not healthy within {timeout}s:\n{self.log_tail()}")


@asynccontextmanager
async def chiffon_server(name: str, **env: str) -> AsyncIterator[ChiffonServer]:
    RESULTS.mkdir(exist_ok=True)
    log_path = RESULTS / f"{name}-server.log"
    log_path.unlink(missing_ok=True)
    server = ChiffonServer(free_port(), env, log_path)
    await server.start()
    try:
        yield server
    finally:
        await server.kill()


def require_chromium() -> None:
    if not Path(CHROMIUM).exists():  # never skipped: scripts/browser installs it
        pytest.fail(f"{CHROMIUM} is missing: run scripts/browser (apt-get install chromium)")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    require_chromium()
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def dashboard(browser: Browser) -> AsyncIterator[DashboardPage]:
    """A fresh browser context at 1280x800 (the size the page is designed for)."""
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    page.set_default_timeout(WAIT_MS)
    try:
        yield DashboardPage(page)
    finally:
        await context.close()


@asynccontextmanager
async def explained(
    ui: DashboardPage, name: str, server: ChiffonServer | None = None
) -> AsyncIterator[None]:
    """Re-raise a failure with what the page showed, its console, a screenshot and the
    server's log, so a red test says why without a rerun."""
    try:
        yield
    except Exception as exc:
        RESULTS.mkdir(exist_ok=True)
        shot = RESULTS / f"{name}-failure.png"
        try:
            text = await ui.page.inner_text("body", timeout=2000)
            await ui.page.screenshot(path=shot, timeout=5000)
        except Exception as inner:
            text = f"(could not read the page: {inner})"
        problems = "\n".join([*ui.errors, *ui.console[-30:]]) or "(none)"
        server_log = server.log_tail() if server is not None else "(no server)"
        raise AssertionError(
            f"{type(exc).__name__}: {exc}\n--- page ({ui.page.url}) ---\n{text[:4000]}\n"
            f"--- console ---\n{problems}\n--- screenshot ---\n{shot}\n"
            f"--- server log ---\n{server_log}"
        ) from exc
