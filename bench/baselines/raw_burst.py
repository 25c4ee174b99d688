"""Baseline (f), the raw burst: baseline (c)'s pipeline under chiffon's burst load; the floor of
what the work costs without chiffon, in completed tasks/s and CPU per completed task.

    .venv/bin/python bench/baselines/raw_burst.py --n 10000 --runs 3 [--json out.json]

What it does, per task, with nothing batched: the driver (one process, standing in for the
orchestrator) INSERTs the row (asyncpg pool of 10, autocommit: one statement, one commit) and
publishes the work message (persistent, mandatory, priority 3 to a durable queue with
`x-max-priority: 5`, as chiffon's work queues) on a confirm channel, waiting for the confirm;
64 such dispatches are in flight at once (chiffon's burst keeps 64 POSTs in flight). Two agent
processes (baseline (c)'s agent, `raw_roundtrip.py agent`, prefetch 8 each: chiffon's two
agents x 8) consume it, publish the result (persistent, confirmed), then ack. The driver
consumes the results (prefetch 64, as chiffon's result consumer), UPDATEs the row (one
statement) and acks. completed/s = completed / (last UPDATE done - first INSERT started).

What it does not do (chiffon does): HTTP and request validation; the outbox (the task and its
outbox row in one transaction, the relay's read and mark-sent); the agent's `running` status
and its transition; attempts, leases, conditional transitions; events to `chiffon.notify` and
the WebSocket hub; heartbeats; chiffon's message envelope (it sends a three-field JSON). It
batches nothing either: chiffon's group commit and batched publishes can make chiffon cheaper
than this floor on some legs, and that is allowed.

CPU: over each burst, user + system seconds of the driver, of each agent, of every
`postgres` process and of `beam.smp` (bench/cpu.py), per completed task. The driver creates a
fresh database and two uniquely named queues (removed at exit) and kills its agents at exit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiormq
import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import cpu
from common import AMQP_BASE, create_database, drop_database
from raw_roundtrip import SCHEMA

HERE = Path(__file__).resolve().parent

POOL_SIZE = 10  # chiffon's pool and baseline (b)'s
RESULTS_PREFETCH = 64  # chiffon's result consumer
WORK = aiormq.spec.Basic.Properties(delivery_mode=2, priority=3, content_type="application/json")
INSERT = (
    "INSERT INTO rt_tasks (task_id, work_type, parameters, status) "
    "VALUES ($1, 'echo', $2::jsonb, 'pending')"
)
UPDATE = (
    "UPDATE rt_tasks SET status = $2, result = $3::jsonb, updated_at = now() WHERE task_id = $1"
)


@dataclass
class Burst:
    """The burst in progress: which results it waits for, and when the last one was stored."""

    waiting: set[str] = field(default_factory=set)
    completed: int = 0
    last: float = 0.0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def start(self, ids: list[str]) -> None:
        self.waiting, self.completed, self.last = set(ids), 0, 0.0
        self.done = asyncio.Event()

    def finished(self, task_id: str) -> None:
        if task_id in self.waiting:
            self.waiting.discard(task_id)
            self.completed += 1
            self.last = time.time()
            if not self.waiting:
                self.done.set()


@dataclass
class Pipeline:
    pool: asyncpg.Pool
    channel: aiormq.abc.AbstractChannel
    work_queue: str
    state: Burst = field(default_factory=Burst)

    async def on_result(self, message: aiormq.abc.DeliveredMessage) -> None:
        res = json.loads(message.body)
        await self.pool.execute(
            UPDATE, uuid.UUID(res["task_id"]), res["status"], json.dumps(res["result"])
        )
        await message.channel.basic_ack(message.delivery.delivery_tag)
        self.state.finished(res["task_id"])

    async def dispatch(self, task_id: str) -> None:
        params = {"n": 1}
        await self.pool.execute(INSERT, uuid.UUID(task_id), json.dumps(params))
        await self.channel.basic_publish(  # waits for the broker's confirm
            json.dumps({"task_id": task_id, "parameters": params}).encode(),
            routing_key=self.work_queue,
            properties=WORK,
            mandatory=True,
        )

    async def burst(self, n: int, in_flight: int, timeout_s: float) -> dict[str, Any]:
        ids = [str(uuid.uuid4()) for _ in range(n)]
        self.state.start(ids)
        todo = iter(ids)

        async def dispatcher() -> None:
            for task_id in todo:
                await self.dispatch(task_id)

        t0 = time.time()
        await asyncio.gather(*(dispatcher() for _ in range(in_flight)))
        dispatched_s = time.time() - t0
        await asyncio.wait_for(self.state.done.wait(), timeout_s)
        elapsed = self.state.last - t0
        return {
            "tasks": n,
            "completed": self.state.completed,
            "dispatch_s": round(dispatched_s, 3),
            "elapsed_s": round(elapsed, 3),
            "completed_per_s": round(self.state.completed / elapsed, 1),
        }


async def start_agents(
    amqp_url: str, work_queue: str, result_queue: str, count: int, prefetch: int
) -> list[subprocess.Popen[bytes]]:
    cmd = [sys.executable, str(HERE / "raw_roundtrip.py"), "agent", "--amqp-url", amqp_url,
           "--work-queue", work_queue, "--result-queue", result_queue,
           "--prefetch", str(prefetch)]  # fmt: skip
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE)  # noqa: ASYNC220 (before measuring)
        for _ in range(count)
    ]
    for proc in procs:
        assert proc.stdout is not None
        if b"ready" not in await asyncio.to_thread(proc.stdout.readline):
            raise RuntimeError("a raw burst agent did not start")
    return procs


def stop_agents(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def drive(
    amqp_url: str, n: int, runs: int, warmup: int, agents: int, prefetch: int, in_flight: int
) -> dict[str, Any]:
    db_name, dsn = await create_database("bench_rawburst")
    tag = secrets.token_hex(4)
    work_queue, result_queue = f"bench.rawburst.work.{tag}", f"bench.rawburst.results.{tag}"
    conn = await aiormq.connect(amqp_url)
    procs: list[subprocess.Popen[bytes]] = []
    consume: aiormq.abc.AbstractChannel | None = None
    pool = await asyncpg.create_pool(dsn, min_size=POOL_SIZE, max_size=POOL_SIZE)
    try:
        await pool.execute(SCHEMA)
        publish = await conn.channel(publisher_confirms=True)
        await publish.queue_declare(work_queue, durable=True, arguments={"x-max-priority": 5})
        await publish.queue_declare(result_queue, durable=True)
        pipe = Pipeline(pool, publish, work_queue)
        consume = await conn.channel()
        await consume.basic_qos(prefetch_count=RESULTS_PREFETCH)
        await consume.basic_consume(result_queue, pipe.on_result, no_ack=False)
        procs = await start_agents(amqp_url, work_queue, result_queue, agents, prefetch)
        if warmup:
            await pipe.burst(warmup, in_flight, 120)
        results = []
        groups = {"orchestrator": [os.getpid()], "agents": [p.pid for p in procs]}
        for _ in range(runs):
            before = cpu.snapshot(groups, db_name)
            r = await pipe.burst(n, in_flight, 600)
            r["cpu"] = cpu.account(before, cpu.snapshot(groups, db_name), r["completed"])
            total = r["cpu"]["total"]["ms_per_task"]
            print(f"raw burst: {r['completed_per_s']} completed/s, {total} ms CPU per task",
                  file=sys.stderr, flush=True)  # fmt: skip
            results.append(r)
        return {"runs": results, "agents": agents, "prefetch": prefetch, "in_flight": in_flight}
    finally:
        stop_agents(procs)
        if consume is not None:
            await consume.close()  # before the queue goes, so its consumer is not cancelled
        try:
            ch = await conn.channel()
            for q in (work_queue, result_queue):
                await ch.queue_delete(q)
        finally:
            await conn.close()
            await pool.close()
            await drop_database(db_name)


def _sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--amqp-url", default=AMQP_BASE)
    p.add_argument("--n", type=int, default=10_000, help="tasks per burst")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--warmup", type=int, default=200, help="tasks of an unmeasured first burst")
    p.add_argument("--agents", type=int, default=2)
    p.add_argument("--prefetch", type=int, default=8, help="per agent")
    p.add_argument("--in-flight", type=int, default=64, help="dispatches in flight")
    p.add_argument("--json", type=Path, help="write the result here")
    a = p.parse_args()
    signal.signal(signal.SIGTERM, _sigterm)  # clean up (agents, queues, database) on SIGTERM
    result = asyncio.run(
        drive(a.amqp_url, a.n, a.runs, a.warmup, a.agents, a.prefetch, a.in_flight)
    )
    text = json.dumps(result, indent=2)
    if a.json:
        a.json.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
