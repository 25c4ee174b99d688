"""Logs of a real `chiffon serve --log-format json`: every stdout line is JSON (the start
banner included); one access line per API call; one line at dispatch, result, cancel and
agent registration; no parameter values and no token anywhere."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import uuid
from typing import Any

import aiohttp
import pytest

from tests.helpers import eventually
from tests.integration.test_cli_process import ROOT, _clean_env, free_port

pytestmark = pytest.mark.e2e  # a real process or a browser: not in the quick suite

TOKEN = "t0ken-that-must-not-leak"
SECRET = "parameter-value-that-must-not-leak"


async def test_json_logs_have_the_lines_that_matter_and_nothing_else() -> None:
    port = free_port()
    env = {**_clean_env(), "CHIFFON_API_TOKEN": TOKEN, "CHIFFON_HEARTBEAT_INTERVAL_S": "0.5"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chiffon", "serve", "--port", str(port), "--log-format", "json",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    base, auth = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {TOKEN}"}
    request_id, trace_id = str(uuid.uuid4()), str(uuid.uuid4())
    try:
        async with aiohttp.ClientSession(headers=auth) as http:
            await eventually(lambda: _up(http, base), bool, 15)
            done = await _run_echo(http, base, request_id, trace_id)
            sleeper = await _dispatch(http, base, "sleep", {"seconds": 30, "note": SECRET})
            async with http.post(f"{base}/api/v1/cancel/{sleeper}", json={}) as answer:
                assert answer.status == 200
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), 20)
    text = out.decode()
    lines = [json.loads(line) for line in text.splitlines()]  # each one JSON, or this fails
    assert SECRET not in text and TOKEN not in text and not err.strip(), err
    assert any("chiffon serving on" in line["message"] for line in lines)

    access = _one(lines, lambda x: x.get("route") == "/api/v1/dispatch" and
                  x.get("request_id") == request_id)  # fmt: skip
    assert access["logger"] == "chiffon.access" and access["method"] == "POST"
    assert access["http_status"] == 200 and access["trace_id"] == trace_id
    assert access["task_id"] == done["task_id"] and done["request_id"] == request_id
    assert isinstance(access["duration_ms"], int | float)
    dispatched = _one(lines, lambda x: x["message"].startswith("dispatched echo"))
    assert (dispatched["task_id"], dispatched["priority"]) == (done["task_id"], 3)
    assert dispatched["agent_type"] == "demo" and dispatched["trace_id"] == trace_id
    result = _one(lines, lambda x: x["message"].startswith("result:") and
                  x.get("task_id") == done["task_id"])  # fmt: skip
    assert result["status"] == "completed" and "duration_ms" in result
    ran = _one(lines, lambda x: x["message"].startswith("echo completed in"))  # the agent's
    assert (ran["trace_id"], ran["task_id"], ran["attempt"]) == (trace_id, done["task_id"], 1)
    assert ran["logger"] == "chiffon.agent"
    cancelled = _one(lines, lambda x: x["message"].startswith("cancelled"))
    assert cancelled["task_id"] == sleeper
    registered = _one(lines, lambda x: x["message"].startswith("agent registered"))
    assert registered["agent_type"] == "demo" and "agent_id" in registered
    assert not [x for x in lines if "heartbeat" in x["message"].lower()]  # routine: silent


def _one(lines: list[dict[str, Any]], match: Any) -> dict[str, Any]:
    found = [line for line in lines if match(line)]
    assert len(found) == 1, found or lines[-20:]
    return found[0]


async def _up(http: aiohttp.ClientSession, base: str) -> bool:
    try:
        async with http.get(f"{base}/api/v1/agents") as answer:
            return answer.status == 200 and bool(await answer.json())
    except aiohttp.ClientError:
        return False


async def _dispatch(
    http: aiohttp.ClientSession, base: str, work_type: str, parameters: Any, **headers: str
) -> str:
    task_id = str(uuid.uuid4())
    body = {"task_id": task_id, "work_type": work_type, "parameters": parameters}
    async with http.post(f"{base}/api/v1/dispatch", json=body, headers=headers) as answer:
        assert answer.status == 200, await answer.text()
    return task_id


async def _run_echo(
    http: aiohttp.ClientSession, base: str, request_id: str, trace_id: str
) -> dict[str, Any]:
    headers = {"X-Request-Id": request_id, "X-Trace-Id": trace_id}
    task_id = str(uuid.uuid4())
    body = {"task_id": task_id, "work_type": "echo", "trace_id": trace_id,
            "parameters": {"secret": SECRET}}  # fmt: skip
    async with http.post(f"{base}/api/v1/dispatch", json=body, headers=headers) as answer:
        assert answer.status == 200, await answer.text()

    async def status() -> dict[str, Any]:
        async with http.get(f"{base}/api/v1/status/{task_id}") as answer:
            found: dict[str, Any] = await answer.json()
            return found

    return await eventually(status, lambda t: t["status"] == "completed", 5)
