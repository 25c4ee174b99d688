"""chiffon under load: the stack (serve + agents on fresh PostgreSQL/RabbitMQ, or in memory) and
the measurements run_all.py makes on it (wrk runs, echo round trips, bursts, WebSocket push)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen
from typing import Any

import aiohttp
import asyncpg
import cpu
from harness import (
    LOGS,
    chiffon_process,
    free_port,
    fresh_database,
    fresh_vhost,
    latency_summary,
    peak_rss_mb,
    rss_mb,
    run_wrk,
    wait_http,
)

TERMINAL = {"completed", "failed", "cancelled", "timed_out"}


@dataclass
class Stack:
    port: int
    serve: Popen[bytes]
    dsn: str | None
    agents: list[Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def chiffon_stack(
    name: str,
    real: bool,
    agents: int = 0,
    concurrency: int = 8,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[Stack]:
    """`chiffon serve` (+ `chiffon agent` processes) on a fresh database and vhost, or in memory."""
    with ExitStack() as stack:
        port = free_port()
        env = {
            "CHIFFON_PORT": str(port),
            "CHIFFON_ROUTES": "bench=bench",
            "CHIFFON_LOG_FORMAT": "json",
            **(extra_env or {}),
        }
        dsn = None
        if real:
            dsn = stack.enter_context(fresh_database())
            env["CHIFFON_DATABASE_URL"] = dsn
            env["CHIFFON_AMQP_URL"] = stack.enter_context(fresh_vhost())
        serve = stack.enter_context(chiffon_process("serve", env, log=LOGS / f"{name}-serve.log"))
        wait_http(f"http://127.0.0.1:{port}/ready", 60, serve)
        procs = [
            stack.enter_context(
                chiffon_process(
                    "agent",
                    env | {"CHIFFON_CONCURRENCY": str(concurrency)},
                    log=LOGS / f"{name}-agent{i}.log",
                )
            )
            for i in range(agents)
        ]
        result = Stack(port, serve, dsn, procs)
        if agents:
            asyncio.run(_wait_agents(result.url, agents))
        yield result


async def _wait_agents(base: str, count: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            async with http.get(f"{base}/api/v1/agents") as r:
                agents = await r.json()
            if sum(a["status"] in ("online", "busy") for a in agents) >= count:
                return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{count} agents not online within {timeout_s}s")


# -- wrk -------------------------------------------------------------------------------------


def wrk_runs(
    url: str,
    script: Path,
    pid: int,
    runs: int,
    duration_s: float,
    connections: int = 64,
    warmup_s: float = 2.0,
    env: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """A short warm-up, then `runs` wrk runs against the same server; RSS after each, and the
    server's CPU per request (its process family's user + system time over the run, in µs: the
    figure to compare on a shared machine, where req/s follows whoever else is busy)."""
    if warmup_s > 0:
        run_wrk(url, script, connections, warmup_s, env=env)
    out = []
    for _ in range(runs):
        cpu_before = cpu.family_cpu_s(pid)
        r = run_wrk(url, script, connections, duration_s, env=env)
        cpu_s = cpu.family_cpu_s(pid) - cpu_before
        r["cpu_s"] = round(cpu_s, 3)
        r["cpu_us_per_request"] = round(1e6 * cpu_s / r["requests"], 1) if r["requests"] else None
        r["peak_rss_mb"] = round(peak_rss_mb(pid), 1)
        r["rss_after_mb"] = round(rss_mb(pid), 1)
        out.append(r)
    return out


async def wait_until_idle(base: str, timeout_s: float) -> None:
    """Until no task is pending or running (polled every 0.5 s)."""
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            busy = 0
            for status in ("pending", "running"):
                async with http.get(f"{base}/api/v1/tasks?status={status}&limit=1") as answer:
                    busy += len((await answer.json())["items"])
            if not busy:
                return
            await asyncio.sleep(0.5)
    raise TimeoutError(f"tasks still pending or running after {timeout_s}s")


async def seed_tasks(base: str, count: int, work_type: str = "bench") -> list[str]:
    """Dispatch `count` tasks (64 at a time) and return their ids."""
    ids = [str(uuid.uuid4()) for _ in range(count)]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as http:

        async def post(task_id: str) -> None:
            body = {"task_id": task_id, "work_type": work_type, "parameters": {"n": 1}}
            async with http.post(f"{base}/api/v1/dispatch", json=body) as r:
                if r.status != 200:
                    raise RuntimeError(f"seeding: {r.status} {await r.text()}")

        await asyncio.gather(*(post(i) for i in ids))
    return ids


# -- end-to-end latency of an echo task ------------------------------------------------------


async def ws_available(base: str) -> bool:
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(f"{base}/api/v1/ws") as ws:
            await ws.send_json({"action": "ping"})
            msg = await ws.receive_json(timeout=5)
            return msg.get("event") == "pong"
    except (TimeoutError, aiohttp.ClientError, ValueError, TypeError):
        return False


async def e2e_latency(
    base: str, n: int, warmup: int, observe: str, breakdown: dict[str, float] | None = None
) -> list[float]:
    """Dispatch -> completed, one echo at a time; latency in ms observed via WS or polling."""
    trace = str(uuid.uuid4())
    waiting: dict[str, asyncio.Future[tuple[float, str]]] = {}
    async with aiohttp.ClientSession() as http:
        ws = None
        reader = None
        if observe == "ws":
            ws = await http.ws_connect(f"{base}/api/v1/ws")
            await ws.send_json({"action": "subscribe", "trace_id": trace})
            snap = await ws.receive_json(timeout=10)
            if snap.get("event") != "snapshot":
                raise RuntimeError(f"unexpected WebSocket answer {snap}")

            async def read() -> None:
                async for msg in ws:
                    if msg.type is not aiohttp.WSMsgType.TEXT:
                        continue
                    now = time.perf_counter()
                    frame = json.loads(msg.data)
                    if frame.get("event") != "task.updated":
                        continue
                    data = frame["data"]
                    fut = waiting.get(data["task_id"])
                    if data["status"] in TERMINAL and fut is not None and not fut.done():
                        fut.set_result((now, data["status"]))

            reader = asyncio.create_task(read())

        async def poll(task_id: str) -> tuple[float, str]:
            while True:
                async with http.get(f"{base}/api/v1/status/{task_id}") as r:
                    task = await r.json()
                if task["status"] in TERMINAL:
                    return time.perf_counter(), task["status"]
                await asyncio.sleep(0.001)

        marks: list[tuple[str, float, float]] = []  # task_id, wall clock at POST and at the end

        async def one() -> float:
            task_id = str(uuid.uuid4())
            fut = asyncio.get_running_loop().create_future()
            waiting[task_id] = fut
            body = {"task_id": task_id, "work_type": "echo", "parameters": {"n": 1}}
            body["trace_id"] = trace
            wall0, t0 = time.time(), time.perf_counter()
            async with http.post(f"{base}/api/v1/dispatch", json=body) as r:
                if r.status != 200:
                    raise RuntimeError(f"dispatch: {r.status} {await r.text()}")
            if observe == "ws":
                t1, status = await asyncio.wait_for(fut, 15)
            else:
                t1, status = await asyncio.wait_for(poll(task_id), 15)
            del waiting[task_id]
            if status != "completed":
                raise RuntimeError(f"echo task ended {status}")
            marks.append((task_id, wall0, wall0 + (t1 - t0)))
            return (t1 - t0) * 1000

        try:
            for _ in range(warmup):
                await one()
            marks.clear()
            samples = [await one() for _ in range(n)]
            if breakdown is not None:
                breakdown.update(await _phases(http, base, marks[-100:]))
            return samples
        finally:
            if reader is not None:
                reader.cancel()
            if ws is not None:
                await ws.close()


async def _phases(
    http: aiohttp.ClientSession, base: str, marks: list[tuple[str, float, float]]
) -> dict[str, float]:
    """Median ms of each leg, from the task's own timestamps (same machine, same clock)."""
    legs: dict[str, list[float]] = {}

    def add(name: str, start: float, end: float) -> None:
        legs.setdefault(name, []).append((end - start) * 1000)

    for task_id, posted, observed in marks:
        async with http.get(f"{base}/api/v1/status/{task_id}") as r:
            task = await r.json()
        ts = {k: dt.datetime.fromisoformat(task[k]).timestamp() for k in _STAMPS if task.get(k)}
        if len(ts) < len(_STAMPS):
            continue
        add("post_to_created", posted, ts["created_at"])
        add("created_to_started", ts["created_at"], ts["started_at"])
        add("started_to_finished", ts["started_at"], ts["finished_at"])
        add("finished_to_updated", ts["finished_at"], ts["updated_at"])
        add("updated_to_observed", ts["updated_at"], observed)
    return {k: round(sorted(v)[len(v) // 2], 2) for k, v in legs.items()}


_STAMPS = ("created_at", "started_at", "finished_at", "updated_at")


# -- burst: 10,000 echo tasks, completed/s from first POST to last completion ------------------


async def burst(
    base: str, dsn: str, n: int, pids: Mapping[str, list[int]], timeout_s: float = 180.0
) -> dict[str, Any]:
    trace = str(uuid.uuid4())
    ids = [str(uuid.uuid4()) for _ in range(n)]
    errors = 0
    groups = {**pids, "load_client": [os.getpid()]}  # reported, not in the total
    database = dsn.rsplit("/", 1)[1]
    conn = await asyncpg.connect(dsn)  # the completion poller: its backend is not counted
    try:
        poller = [await conn.fetchval("SELECT pg_backend_pid()")]
        cpu0 = cpu.snapshot(groups, database, exclude=poller)
        t0 = time.time()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as http:
            todo = iter(ids)

            async def worker() -> None:
                nonlocal errors
                for task_id in todo:
                    body = {"task_id": task_id, "work_type": "echo", "parameters": {"n": 1}}
                    body["trace_id"] = trace
                    async with http.post(f"{base}/api/v1/dispatch", json=body) as r:
                        if r.status != 200:
                            errors += 1

            await asyncio.gather(*(worker() for _ in range(64)))
        dispatched_s = time.time() - t0
        deadline = time.monotonic() + timeout_s
        while True:
            row = await conn.fetchrow(
                "SELECT count(*) FILTER (WHERE status = 'completed') AS done, "
                "count(*) FILTER (WHERE status IN ('failed', 'cancelled', 'timed_out')) AS bad, "
                "max(finished_at) AS last FROM tasks WHERE trace_id = $1",
                uuid.UUID(trace),
            )
            if row["done"] + row["bad"] >= n - errors or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        cpu1 = cpu.snapshot(groups, database, exclude=poller)
    finally:
        await conn.close()
    last: dt.datetime | None = row["last"]
    elapsed = (last.timestamp() - t0) if last else float("nan")
    return {
        "tasks": n,
        "completed": row["done"],
        "not_completed": n - row["done"],
        "dispatch_errors": errors,
        "dispatch_s": round(dispatched_s, 3),
        "elapsed_s": round(elapsed, 3),
        "completed_per_s": round(row["done"] / elapsed, 1) if last else 0.0,
        "cpu": cpu.account(cpu0, cpu1, row["done"]),
    }


# -- WebSocket push to 1,000 subscribers -----------------------------------------------------


async def ws_push(
    base: str,
    pid: int,
    subscribers: int,
    rounds: int,
    tasks_per_round: int = 20,
    spacing_s: float = 0.05,
) -> dict[str, Any]:
    """Memory per idle connection, then push latency (task updated_at -> frame received)."""
    trace = str(uuid.uuid4())
    rss_before = rss_mb(pid)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        sockets: list[aiohttp.ClientWebSocketResponse] = []

        async def connect() -> None:
            ws = await http.ws_connect(f"{base}/api/v1/ws", timeout=aiohttp.ClientWSTimeout())
            await ws.send_json({"action": "subscribe", "trace_id": trace})
            snap = await ws.receive_json(timeout=30)
            if snap.get("event") != "snapshot":
                raise RuntimeError(f"unexpected WebSocket answer {snap}")
            sockets.append(ws)

        for _ in range(0, subscribers, 100):
            await asyncio.gather(*(connect() for _ in range(min(100, subscribers - len(sockets)))))
        await asyncio.sleep(2.0)
        rss_idle = rss_mb(pid)
        received: list[list[tuple[float, str]]] = [[] for _ in sockets]
        done_sets: list[set[str]] = [set() for _ in sockets]
        evicted = 0

        async def read(i: int, ws: aiohttp.ClientWebSocketResponse) -> None:
            nonlocal evicted
            async for msg in ws:
                if msg.type is aiohttp.WSMsgType.TEXT:
                    now = time.time()
                    frame = json.loads(msg.data)
                    if frame.get("event") == "task.updated":
                        data = frame["data"]
                        received[i].append((now, data["updated_at"]))
                        if data["status"] in TERMINAL:
                            done_sets[i].add(data["task_id"])
            evicted += 1

        readers = [asyncio.create_task(read(i, ws)) for i, ws in enumerate(sockets)]
        results = []
        try:
            for _ in range(rounds):
                for buf in received:
                    buf.clear()
                ids = []
                for _ in range(tasks_per_round):
                    task_id = str(uuid.uuid4())
                    ids.append(task_id)
                    body = {"task_id": task_id, "work_type": "echo", "parameters": {"n": 1}}
                    body["trace_id"] = trace
                    async with http.post(f"{base}/api/v1/dispatch", json=body) as r:
                        if r.status != 200:
                            raise RuntimeError(f"dispatch: {r.status} {await r.text()}")
                    await asyncio.sleep(spacing_s)
                wanted = set(ids)
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    if all(wanted <= s for s in done_sets):
                        break
                    await asyncio.sleep(0.05)
                samples = [
                    (recv - dt.datetime.fromisoformat(updated).timestamp()) * 1000
                    for buf in received
                    for recv, updated in buf
                ]
                complete = sum(wanted <= s for s in done_sets)
                results.append(
                    latency_summary(samples)
                    | {"frames": len(samples), "subscribers_complete": complete}
                )
        finally:
            for r in readers:
                r.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
            await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return {
        "subscribers": len(sockets),
        "rss_before_mb": round(rss_before, 1),
        "rss_idle_mb": round(rss_idle, 1),
        "kb_per_idle_connection": round((rss_idle - rss_before) * 1024 / max(1, len(sockets)), 1),
        "evicted": evicted,
        "runs": results,
    }
