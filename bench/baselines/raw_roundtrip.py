"""Baseline (c), the raw round trip: INSERT, publish (confirmed), an agent process consumes it
and publishes a result, the driver UPDATEs the row on receipt; one task at a time.

    .venv/bin/python bench/baselines/raw_roundtrip.py --n 500 --runs 3 [--json out.json]

The driver creates a fresh database and two uniquely named queues (all removed at exit) and
starts the agent (`raw_roundtrip.py agent ...`) as a child process, killed at exit. Latency is
measured from before the INSERT to after the UPDATE; it prints p50/p99 per run and writes JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiormq
import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import AMQP_BASE, create_database, drop_database
from harness import latency_summary

SCHEMA = """
CREATE TABLE rt_tasks (
    task_id uuid PRIMARY KEY,
    work_type text NOT NULL,
    parameters jsonb NOT NULL,
    status text NOT NULL,
    result jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
)"""
PERSISTENT = aiormq.spec.Basic.Properties(delivery_mode=2, content_type="application/json")


async def agent(amqp_url: str, work_queue: str, result_queue: str, prefetch: int) -> None:
    """Consume work, publish a result (confirmed), then ack the work; until SIGTERM."""
    conn = await aiormq.connect(amqp_url)
    channel = await conn.channel(publisher_confirms=True)
    await channel.basic_qos(prefetch_count=prefetch)

    async def on_work(message: aiormq.abc.DeliveredMessage) -> None:
        work = json.loads(message.body)
        result = {"task_id": work["task_id"], "status": "completed", "result": work["parameters"]}
        await channel.basic_publish(
            json.dumps(result).encode(), routing_key=result_queue, properties=PERSISTENT
        )
        await channel.basic_ack(message.delivery.delivery_tag)

    await channel.basic_consume(work_queue, on_work, no_ack=False)
    print("agent ready", flush=True)
    await asyncio.Event().wait()


async def drive(amqp_url: str, n: int, runs: int, warmup: int) -> dict[str, Any]:
    db_name, dsn = await create_database("bench_rt")
    tag = secrets.token_hex(4)
    work_queue, result_queue = f"bench.rt.work.{tag}", f"bench.rt.results.{tag}"
    conn = await aiormq.connect(amqp_url)
    proc: subprocess.Popen[bytes] | None = None
    try:
        db = await asyncpg.connect(dsn)
        await db.execute(SCHEMA)
        channel = await conn.channel(publisher_confirms=True)
        for q in (work_queue, result_queue):
            await channel.queue_declare(q, durable=True)
        waiting: dict[str, asyncio.Future[None]] = {}

        async def on_result(message: aiormq.abc.DeliveredMessage) -> None:
            res = json.loads(message.body)
            await db.execute(
                "UPDATE rt_tasks SET status = $2, result = $3::jsonb, updated_at = now() "
                "WHERE task_id = $1",
                uuid.UUID(res["task_id"]),
                res["status"],
                json.dumps(res["result"]),
            )
            await channel.basic_ack(message.delivery.delivery_tag)
            fut = waiting.pop(res["task_id"], None)
            if fut is not None and not fut.done():
                fut.set_result(None)

        await channel.basic_consume(result_queue, on_result, no_ack=False)
        proc = subprocess.Popen(  # noqa: ASYNC220 (once, before measuring)
            [sys.executable, __file__, "agent", "--amqp-url", amqp_url, "--work-queue",
             work_queue, "--result-queue", result_queue],
            stdout=subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdout is not None
        ready = await asyncio.to_thread(proc.stdout.readline)
        if b"ready" not in ready:
            raise RuntimeError("the round-trip agent did not start")

        async def one() -> float:
            task_id = str(uuid.uuid4())
            params = {"n": 1}
            fut = asyncio.get_running_loop().create_future()
            waiting[task_id] = fut
            t0 = time.perf_counter()
            await db.execute(
                "INSERT INTO rt_tasks (task_id, work_type, parameters, status) "
                "VALUES ($1, 'echo', $2::jsonb, 'pending')",
                uuid.UUID(task_id),
                json.dumps(params),
            )
            await channel.basic_publish(
                json.dumps({"task_id": task_id, "parameters": params}).encode(),
                routing_key=work_queue,
                properties=PERSISTENT,
            )
            await asyncio.wait_for(fut, 10)
            return (time.perf_counter() - t0) * 1000

        for _ in range(warmup):
            await one()
        results = []
        for _ in range(runs):
            t_start = time.perf_counter()
            samples = [await one() for _ in range(n)]
            elapsed = time.perf_counter() - t_start
            results.append(latency_summary(samples) | {"per_s": round(n / elapsed, 1)})
            print(
                f"raw round trip: p50 {results[-1]['p50_ms']} ms, p99 {results[-1]['p99_ms']} ms",
                file=sys.stderr,
                flush=True,
            )
        await db.close()
        return {"runs": results}
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        try:
            ch = await conn.channel()
            for q in (work_queue, result_queue):
                await ch.queue_delete(q)
        finally:
            await conn.close()
            await drop_database(db_name)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("role", nargs="?", choices=["drive", "agent"], default="drive")
    p.add_argument("--amqp-url", default=AMQP_BASE)
    p.add_argument("--n", type=int, default=500, help="round trips per run")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--json", type=Path, help="write the result here")
    p.add_argument("--work-queue")
    p.add_argument("--result-queue")
    p.add_argument("--prefetch", type=int, default=8)
    a = p.parse_args()
    if a.role == "agent":
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(agent(a.amqp_url, a.work_queue, a.result_queue, a.prefetch))
        return
    result = asyncio.run(drive(a.amqp_url, a.n, a.runs, a.warmup))
    text = json.dumps(result, indent=2)
    if a.json:
        a.json.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
