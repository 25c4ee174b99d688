"""A real `chiffon serve` process for the tests that drive it from outside (schemathesis, a
generated client): in memory, or on a fresh PostgreSQL database."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from tests.helpers import eventually
from tests.integration.test_cli_process import ROOT, _clean_env, free_port
from tests.pg_fixtures import create_database, drop_database


@asynccontextmanager
async def chiffon_serve(
    log_dir: Path,
    store: str = "memory",
    env: dict[str, str] | None = None,
    database: str | None = None,
    stop: signal.Signals = signal.SIGTERM,
) -> AsyncIterator[str]:
    """Yield the base URL of a `chiffon serve` with the demo agent; at exit, stop it with
    `stop` and check that it logged no traceback. With `database` (a DSN), it runs on that
    database and leaves it in place (a restart on the same store)."""
    environ = {
        **_clean_env(),
        "CHIFFON_HEARTBEAT_INTERVAL_S": "0.5",
        "CHIFFON_SHUTDOWN_GRACE_S": "2",
        **(env or {}),
    }
    fresh = store == "postgres" and database is None
    dsn = await create_database(migrated=False) if fresh else database
    if dsn is not None:
        environ["CHIFFON_DATABASE_URL"] = dsn
    port = free_port()
    log_path = log_dir / f"serve-{port}.log"
    log = log_path.open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chiffon", "serve", "--port", str(port),
        cwd=ROOT, env=environ, stdout=log, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            await eventually(lambda: _health(http, base), bool, 15)
        yield base
    finally:
        if proc.returncode is None:
            proc.send_signal(stop)
        await asyncio.wait_for(proc.wait(), 20)
        log.close()
        if fresh and dsn is not None:
            await drop_database(dsn)
    assert "Traceback" not in log_path.read_text()


async def _health(http: aiohttp.ClientSession, base: str) -> bool:
    try:
        async with http.get(f"{base}/health") as answer:
            return answer.status == 200
    except aiohttp.ClientError:
        return False
