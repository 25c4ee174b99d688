"""As a user runs it, in memory mode: `chiffon dispatch ... --timeout 0.5 --wait` reports a
time-out as `timed_out`; Ctrl-C of `chiffon serve` drains its in-process agent and exits."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.helpers import eventually
from tests.integration.served import _health, chiffon_serve
from tests.integration.test_cli_process import ROOT, _clean_env, free_port, run_cli

pytestmark = pytest.mark.e2e


async def test_dispatch_wait_says_timed_out_and_the_task_is_listed_so(tmp_path: Path) -> None:
    async with chiffon_serve(tmp_path) as base:
        url = ["--url", base]
        code, out = await run_cli(
            "dispatch", "sleep", "seconds=3", "--timeout", "0.5", "--wait", *url
        )
        assert code == 1, out
        assert "timed out" in out, out
        task_id = re.search(r"[0-9a-f-]{36}", out)
        assert task_id is not None, out
        code, shown = await run_cli("status", task_id.group(0), "--json", *url)
        task = json.loads(shown)
        assert (task["status"], task["exit_code"], task["error_message"]) == (
            "timed_out",
            124,
            "timed out after 0.5s",
        )
        code, listed = await run_cli("tasks", "--status", "timed_out", *url)
        assert code == 0 and task_id.group(0)[:8] in listed, listed
        code, audit = await run_cli("audit", "--settled", *url)
        assert code == 0, audit


async def test_ctrl_c_drains_the_in_process_agent_then_exits(tmp_path: Path) -> None:
    env = {"CHIFFON_SHUTDOWN_GRACE_S": "1"}
    async with chiffon_serve(tmp_path, env=env, stop=signal.SIGINT) as base:
        code, out = await run_cli("dispatch", "sleep", "seconds=30", "--url", base)
        assert code == 0, out
        task_id = out.strip().splitlines()[-1]
        await eventually(lambda: _status(task_id, base), lambda t: t["status"] == "running", 10)
    text = _serve_log(tmp_path)  # it stopped, with no traceback (chiffon_serve checks)
    assert "finishing 1 running task(s) for up to 1s" in text, text
    assert "agent offline: said goodbye" in text, text
    assert "agent lost: task moved to pending" in text, text  # handed back as lost


async def _status(task_id: str, base: str) -> dict[str, object]:
    code, out = await run_cli("status", task_id, "--json", "--url", base)
    assert code == 0, out
    task: dict[str, object] = json.loads(out)
    return task


def _serve_log(log_dir: Path) -> str:
    (log,) = log_dir.glob("serve-*.log")
    return log.read_text()


async def test_a_second_ctrl_c_stops_the_drain_at_once(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    env = {**_clean_env(), "CHIFFON_SHUTDOWN_GRACE_S": "60", "CHIFFON_HEARTBEAT_INTERVAL_S": "0.5"}
    with log_path.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "chiffon", "serve", "--port", str(port),
            cwd=ROOT, env=env, stdout=out, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
    try:
        async with aiohttp.ClientSession() as http:
            await eventually(lambda: _health(http, base), bool, 15)
        code, out = await run_cli("dispatch", "sleep", "seconds=50", "--url", base)
        assert code == 0, out
        task_id = out.strip().splitlines()[-1]
        await eventually(lambda: _status(task_id, base), lambda t: t["status"] == "running", 10)
        proc.send_signal(signal.SIGINT)  # the drain would wait for the task: up to 60 s
        await eventually(lambda: _log(log_path), lambda t: "Ctrl-C again stops now" in t, 10)
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = await _log(log_path)
    assert "stopping now; running tasks are handed back as lost" in text, text
    assert "agent lost: task moved to pending" in text and "Traceback" not in text, text


async def _log(path: Path) -> str:
    return await asyncio.to_thread(path.read_text)
