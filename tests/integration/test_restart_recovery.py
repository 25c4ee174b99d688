"""The README's "On PostgreSQL" mode (in-process bus, the demo agent inside `chiffon serve`):
a task running when the server stops (Ctrl-C) or dies (kill -9) is lost with the agent that
ran it, and the next start on the same database retries it within the detection time."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from chiffon.config import OrchestratorConfig
from tests.helpers import eventually
from tests.integration.served import chiffon_serve
from tests.pg_fixtures import create_database, drop_database

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

DETECTION_S = OrchestratorConfig().detection_s  # the default: 7 s, within the promised 10
DEFAULTS = {"CHIFFON_HEARTBEAT_INTERVAL_S": ""}  # empty: unset, so the defaults apply


@pytest.fixture
async def database() -> AsyncIterator[str]:
    dsn = await create_database(migrated=False)
    try:
        yield dsn
    finally:
        await drop_database(dsn)


async def _get(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(url) as answer:
        assert answer.status == 200, await answer.text()
        return await answer.json()


async def _start_sleep(http: aiohttp.ClientSession, base: str) -> dict[str, Any]:
    task_id = str(uuid.uuid4())
    body = {"task_id": task_id, "work_type": "sleep", "parameters": {"seconds": 20}}
    async with http.post(f"{base}/api/v1/dispatch", json=body) as answer:
        assert answer.status == 200, await answer.text()
    return await eventually(
        lambda: _get(http, f"{base}/api/v1/status/{task_id}"),
        lambda t: (t["progress_percent"] or 0) > 0,
        10,
    )


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill-9"])
async def test_a_task_running_when_the_server_stopped_is_retried_after_the_restart(
    tmp_path: Path, database: str, stop: signal.Signals
) -> None:
    env = {**DEFAULTS, "CHIFFON_SHUTDOWN_GRACE_S": "1"}
    async with aiohttp.ClientSession() as http:
        async with chiffon_serve(tmp_path, env=env, database=database, stop=stop) as base:
            running = await _start_sleep(http, base)
        lost_agent, task_id = running["agent_id"], running["task_id"]
        async with chiffon_serve(tmp_path, env=env, database=database) as base:
            started = time.monotonic()
            retried = await eventually(
                lambda: _get(http, f"{base}/api/v1/status/{task_id}"),
                lambda t: t["attempt"] == 2 and t["status"] == "running",
                DETECTION_S + 5,  # + the restart's own start-up
            )
            took = time.monotonic() - started
            print(f"{stop.name}: attempt 2 running {took:.1f}s after the restart")
            assert retried["agent_id"] not in (None, lost_agent)
            agents = {a["agent_id"]: a for a in await _get(http, f"{base}/api/v1/agents")}
            assert (agents[lost_agent]["status"], agents[lost_agent]["running_tasks"]) == (
                "offline",
                [],
            )
            timeline = await _get(http, f"{base}/api/v1/tasks/{task_id}/events")
            kinds = [e["kind"] for e in timeline["items"]]
            assert kinds.count("started") == 2 and "retried" in kinds
            async with http.post(f"{base}/api/v1/cancel/{task_id}") as answer:
                assert answer.status == 200  # ends it: 20 s of sleep would only slow the suite
            audit = await _get(http, f"{base}/api/v1/audit")  # the history checker
            assert (audit["tasks_checked"], audit["violations"]) == (1, [])
