"""The goal figure of the hostile-input work, on a real `chiffon serve`: 200 WebSocket clients
that subscribe again and again and never read, over tasks with 200 KB parameters, keep the
server's RSS within +200 MB of where it started; /health keeps answering; SIGTERM stops it.

(/health's latency under this flood is a performance figure: bench/ws_flood.py measures it and
docs/performance.md records it; here it is only required to answer, within a second.)"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import pytest

from tests.integration.test_cli_process import ROOT, _clean_env, free_port

sys.path.insert(0, str(Path(ROOT) / "bench"))
from ws_flood import FloodStats, flood, rss_mb

pytestmark = pytest.mark.e2e  # a real process or a browser: not in the quick suite

CLIENTS = 200
TASKS = 100
PARAMETERS_KB = 200
CEILING_MB = 200


async def test_never_reading_clients_cannot_grow_the_server(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**_clean_env(), "CHIFFON_WS_MAX_PER_CLIENT": str(CLIENTS * 2)}
    log = (tmp_path / "serve.log").open("wb")  # a pipe nobody reads would block the server
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chiffon", "serve", "--port", str(port),
        cwd=ROOT, env=env, stdout=log, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        task_ids = await _big_pending_tasks(base)
        await asyncio.sleep(1)
        baseline = rss_mb(proc.pid)
        stats = FloodStats()
        flooding = asyncio.create_task(flood(base, proc.pid, CLIENTS, 30, task_ids, stats=stats))
        await asyncio.sleep(12)
        seen = stats.summary()
        print("flood:", json.dumps({"baseline_rss_mb": round(baseline, 1), **seen}))
        proc.send_signal(signal.SIGTERM)  # while 200 clients still push at it
        started = time.monotonic()
        code = await asyncio.wait_for(proc.wait(), 20)
        stopped_s = time.monotonic() - started
        flooding.cancel()
        await asyncio.gather(flooding, return_exceptions=True)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        log.close()
        lines = (tmp_path / "serve.log").read_text().splitlines()
        print(f"server log: {len(lines)} lines; last: {lines[-3:]}")
    assert seen["peak_rss_mb"] - baseline <= CEILING_MB, seen
    assert seen["health_failures"] == 0 and seen["health_probes"] >= 50, seen
    assert seen["health_max_ms"] < 1000, seen
    assert seen["frames_sent"] > CLIENTS * 50, seen  # they did push, all along
    assert code == 0 and stopped_s < 20
    print(f"SIGTERM stopped the server in {stopped_s:.1f}s")


async def _big_pending_tasks(base: str) -> list[str]:
    """Tasks nobody runs (no agent serves `research`), each with 200 KB of parameters."""
    blob = "x" * (PARAMETERS_KB * 1024 - 100)
    ids = [str(uuid.uuid4()) for _ in range(TASKS)]
    async with aiohttp.ClientSession() as http:
        for _ in range(100):
            try:
                async with http.get(f"{base}/health") as r:
                    if r.status == 200:
                        break
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
        for task_id in ids:
            body = {"task_id": task_id, "work_type": "research", "parameters": {"blob": blob}}
            async with http.post(f"{base}/api/v1/dispatch", json=body) as r:
                assert r.status == 200, await r.text()
    return ids
