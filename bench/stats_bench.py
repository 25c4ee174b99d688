"""GET /api/v1/stats on 100,000 stored tasks: how long the server takes to compute it, on
PostgreSQL (a fresh database seeded by stored_tasks.py) and in memory, per window and step.

    .venv/bin/python bench/stats_bench.py [--tasks 100000] [--runs 5]

Times the use case the endpoint runs (OrchestratorService.stats: the store's reads and the
intervals built from them), median and worst of `runs` after one warm-up. See
docs/performance.md for the documented limits."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg
from harness import create_database, drop_database
from stored_tasks import seed

from adapters.memory.task_repository import InMemoryTaskRepository
from adapters.postgres.migrations import migrate
from adapters.postgres.pool import create_pool
from adapters.postgres.task_repository import PostgresTaskRepository
from chiffon.model import EventDraft, Task, TaskStatus
from chiffon.stats import Span, build_stats
from ports.task_repository import TaskRepository

CASES = (("1h", 3600, 60), ("24h", 86_400, 300), ("7d", 7 * 86_400, 3600))
STATUSES = (*[TaskStatus.COMPLETED] * 6, TaskStatus.FAILED, TaskStatus.CANCELLED)


async def timed(call: Callable[[], Awaitable[object]], runs: int) -> tuple[float, float]:
    await call()  # warm-up: plans, caches
    took = []
    for _ in range(runs):
        started = time.perf_counter()
        await call()
        took.append((time.perf_counter() - started) * 1000)
    return statistics.median(took), max(took)


async def measure(name: str, repo: TaskRepository, runs: int) -> None:
    for label, window_s, step_s in CASES:

        async def stats(w: int = window_s, s: int = step_s) -> object:
            span = Span.ending_at(datetime.now(UTC), w, s)
            return build_stats(span, await repo.activity(span))

        median, worst = await timed(stats, runs)
        print(f"{name:8} window {label:4} step {step_s:5d}s: median {median:7.1f} ms, "
              f"worst {worst:7.1f} ms", flush=True)  # fmt: skip


async def on_postgres(count: int, runs: int) -> None:
    name, dsn = await asyncio.to_thread(create_database, "chiffon_stats_bench")
    try:
        conn = await asyncpg.connect(dsn)
        await migrate(conn)
        await conn.close()
        started = time.perf_counter()
        await seed(dsn, count)
        print(f"postgres: seeded {count:,} tasks in {time.perf_counter() - started:.1f} s")
        pool = await create_pool(dsn)
        try:
            await measure("postgres", PostgresTaskRepository(pool), runs)
        finally:
            await pool.close()
    finally:
        await asyncio.to_thread(drop_database, name)


async def in_memory(count: int, runs: int) -> None:
    repo = InMemoryTaskRepository(max_finished=count)
    now = datetime.now(UTC)
    for i in range(count):
        created = now - timedelta(seconds=86_400 * i / count)
        status = STATUSES[i % len(STATUSES)] if i % 11 else TaskStatus.PENDING
        done = status is not TaskStatus.PENDING
        task = Task(
            task_id=uuid4(), request_id=uuid4(), trace_id=uuid4(), work_type="echo",
            agent_type="demo", priority=3, parameters={"n": i}, status=status,
            created_at=created, updated_at=created,
            started_at=created + timedelta(milliseconds=100) if done else None,
            finished_at=created + timedelta(milliseconds=100 + i % 3000) if done else None,
            duration_ms=i % 3000 if done else None,
        )  # fmt: skip
        await repo.create(task, EventDraft("dispatched", created, status, {}), ())
    print(f"memory: stored {count:,} tasks")
    await measure("memory", repo, runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(on_postgres(args.tasks, args.runs))
    asyncio.run(in_memory(args.tasks, args.runs))


if __name__ == "__main__":
    main()
