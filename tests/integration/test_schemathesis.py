"""Schemathesis over the OpenAPI document against a real `chiffon serve`, in memory and on
PostgreSQL, with a bearer token (so ignored-auth is checked too): no server error, no answer
that breaks the document, no invalid input accepted.

One check is left out: `positive_data_acceptance` (every schema-valid request must succeed).
A document cannot say that a cursor must be one the server issued, that a work type must be
routable, or that a task can be cancelled only once; those refusals are right, and are each
tested in tests/http."""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.integration.served import chiffon_serve

pytestmark = pytest.mark.e2e  # a real process or a browser: not in the quick suite

TOKEN = "schemathesis-token"
EXAMPLES = 25


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
async def server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    env = {"CHIFFON_API_TOKEN": TOKEN}
    async with chiffon_serve(tmp_path, request.param, env) as base:
        yield base


async def test_the_api_keeps_its_document_under_generated_requests(
    server: str, tmp_path: Path
) -> None:
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    assert st, "schemathesis is missing: it is in the test extra (scripts/bootstrap test)"
    proc = await asyncio.create_subprocess_exec(
        st, "run", f"{server}/api/openapi.json",
        "--header", f"Authorization: Bearer {TOKEN}",
        "--checks", "all", "--exclude-checks", "positive_data_acceptance",
        "--exclude-path", "/api/v1/ws",  # a WebSocket upgrade, not a REST operation
        "--max-examples", str(EXAMPLES), "--seed", "20261201",
        "--generation-database", "none", "--no-color",
        # One worker: two threads building hypothesis strategies can hit CPython 3.11's
        # "AST constructor recursion depth mismatch" (gh-106905) inside schemathesis.
        "--workers", "1",
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 300)
    report = out.decode(errors="replace")
    assert proc.returncode == 0, report[-6000:]
    assert " passed" in report and "failure" not in report.split("SUMMARY")[-1], report[-3000:]
