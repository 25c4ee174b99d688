"""`chiffon serve --workers 2`: two processes share the port, each a replica; a worker that dies
is started again and nothing is lost; SIGTERM stops them all."""

from __future__ import annotations

import contextlib
import json
import signal
import uuid
from collections import Counter
from typing import Any

import aiohttp
import psutil
import pytest

from tests.e2e.harness import Cluster, Proc, eventually

pytestmark = pytest.mark.e2e


def _bodies(count: int) -> list[dict[str, Any]]:
    return [
        {"task_id": str(uuid.uuid4()), "work_type": "echo", "parameters": {"i": i}}
        for i in range(count)
    ]


def _workers(serve: Proc) -> list[psutil.Process]:
    return [
        p for p in psutil.Process(serve.pid).children() if "--worker-index" in " ".join(p.cmdline())
    ]


def _dispatches_by_worker(serve: Proc) -> Counter[int]:
    counts: Counter[int] = Counter()
    for line in serve.log().splitlines():
        if not line.startswith("{"):
            continue
        record = json.loads(line)
        if record.get("route") == "/api/v1/dispatch" and record.get("http_status") == 200:
            counts[int(record["worker"])] += 1
    return counts


async def test_two_workers_share_the_port_survive_a_crash_and_stop_together(
    cluster: Cluster,
) -> None:
    serve = await cluster.start_orchestrator(CHIFFON_WORKERS="2")
    await cluster.start_agent(serve, concurrency=8)
    workers = _workers(serve)
    assert len(workers) == 2

    first = await cluster.dispatch_many(serve, _bodies(64), parallel=32)
    rows = await cluster.wait_finished(first, timeout=30, alive=[serve])
    assert Counter(r["status"] for r in rows) == {"completed": 64}
    by_worker = _dispatches_by_worker(serve)
    assert set(by_worker) == {1, 2}, by_worker  # the kernel spread the connections

    # A worker killed outright: its parent starts another; the service goes on meanwhile.
    workers[0].kill()
    with contextlib.suppress(psutil.NoSuchProcess):
        workers[0].wait(timeout=10)  # gone, with its listening socket
    # Pooled connections to the killed worker are dead: the kernel gives new ones to the other.
    await cluster.http.close()
    cluster.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
    during = await cluster.dispatch_many(serve, _bodies(32), parallel=8)
    await eventually(
        lambda: _async_workers(serve),
        lambda now: len(now) == 2 and workers[0].pid not in {p.pid for p in now},
        20,
        "the killed worker replaced",
        alive=serve.check_alive,
    )
    assert "starting it again" in serve.log()
    after = await cluster.dispatch_many(serve, _bodies(32), parallel=32)
    rows = await cluster.wait_finished(during + after, timeout=30, alive=[serve])
    assert Counter(r["status"] for r in rows) == {"completed": 64}

    replaced = _workers(serve)
    serve.send(signal.SIGTERM)
    assert await serve.wait_exit(timeout=30) == 0
    for worker in replaced:
        assert not worker.is_running() or worker.status() == psutil.STATUS_ZOMBIE


async def _async_workers(serve: Proc) -> list[psutil.Process]:
    return _workers(serve)


async def test_a_worker_that_cannot_start_stops_them_all(cluster: Cluster) -> None:
    proc = await cluster.spawn(
        "serve",
        ["serve", "--workers", "2", "--port", "0", "--no-migrate"],
        cluster.env(CHIFFON_DATABASE_URL=cluster.dsn.rsplit("/", 1)[0] + "/no_such_database"),
    )
    assert await proc.wait_exit(timeout=30) == 1
    log = proc.log()
    assert 'database "no_such_database" does not exist' in log
    assert "before it served" in log
