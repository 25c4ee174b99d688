"""Schemathesis over the OpenAPI document against a real `chiffon serve`, in memory and on
PostgreSQL, with a bearer token (so ignored-auth is checked too): no server error, no answer
that breaks the document, no invalid input accepted.

One check is left out: `positive_data_acceptance` (every schema-valid request must succeed).
A document cannot say that a cursor must be one the server issued, that a work type must be
routable, or that a body-less POST still declares Content-Type: application/json (which keeps
cross-site forms out); those refusals are right, and are each tested in tests/http."""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.helpers import eventually
from tests.integration.test_cli_process import ROOT, _clean_env, free_port
from tests.pg_fixtures import create_database, drop_database

pytestmark = pytest.mark.e2e  # a real process or a browser: not in the quick suite

TOKEN = "schemathesis-token"
EXAMPLES = 25


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
async def server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    env = {**_clean_env(), "CHIFFON_API_TOKEN": TOKEN, "CHIFFON_HEARTBEAT_INTERVAL_S": "0.5"}
    dsn = await create_database(migrated=False) if request.param == "postgres" else None
    if dsn is not None:
        env["CHIFFON_DATABASE_URL"] = dsn
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chiffon", "serve", "--port", str(port),
        cwd=ROOT, env=env, stdout=log, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            await eventually(lambda: _health(http, base), bool, 15)
        yield base
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 20)
        log.close()
        if dsn is not None:
            await drop_database(dsn)
    assert "Traceback" not in (tmp_path / "serve.log").read_text()


async def _health(http: aiohttp.ClientSession, base: str) -> bool:
    try:
        async with http.get(f"{base}/health") as answer:
            return answer.status == 200
    except aiohttp.ClientError:
        return False


async def test_the_api_keeps_its_document_under_generated_requests(
    server: str, tmp_path: Path
) -> None:
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    assert st, "schemathesis is missing: it is in the test extra (scripts/bootstrap test)"
    proc = await asyncio.create_subprocess_exec(
        st, "run", f"{server}/api/docs/swagger.json",
        "--header", f"Authorization: Bearer {TOKEN}",
        "--checks", "all", "--exclude-checks", "positive_data_acceptance",
        "--exclude-path", "/api/v1/ws",  # a WebSocket upgrade, not a REST operation
        "--max-examples", str(EXAMPLES), "--seed", "20261201",
        "--generation-database", "none", "--no-color", "--workers", "2",
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 300)
    report = out.decode(errors="replace")
    assert proc.returncode == 0, report[-6000:]
    assert " passed" in report and "failure" not in report.split("SUMMARY")[-1], report[-3000:]
