"""The schedule and concurrency-key queries of the PostgreSQL store, on a loaded database:
EXPLAIN (ANALYZE, BUFFERS) of each statement the scheduler, the API and admission run, on
100,000 stored tasks (stored_tasks.py), 10,000 schedules (a few due, some paused or
buffered) and 2,000 tasks waiting on 100 concurrency keys. Prints the plan's nodes and the
execution time of each, best of `runs`. See docs/postgres.md.

    .venv/bin/python bench/schedule_queries.py [--tasks 100000] [--schedules 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg
from harness import fresh_database
from stored_tasks import seed

from adapters.postgres import schedule_repository as sr
from adapters.postgres import task_sql as sql
from adapters.postgres.migrations import migrate
from ports.task_repository import TaskFilter

SCHEDULES = """
INSERT INTO schedules (schedule_id, revision, paused, next_fire_at, buffered_at, created_at, body)
SELECT gen_random_uuid(), 1, i % 10 = 3,
       now() + (CASE WHEN i % 500 = 0 THEN -1 ELSE i END) * interval '1 second',
       CASE WHEN i % 1000 = 1 THEN now() END, now() - i * interval '1 second',
       jsonb_build_object('note', 'schedule ' || i)
FROM generate_series(1, $1::int) AS i
"""
# Tasks fired by 100 schedules (100 each), and 2,000 keyed tasks on 100 keys: per key, 2 hold
# a slot (running), 20 wait (pending, not admitted).
FIRED_AND_KEYED = """
UPDATE tasks SET schedule_id = ('00000000-0000-0000-0000-' || lpad((n % 100)::text, 12, '0'))::uuid,
                 scheduled_at = created_at
FROM (SELECT task_id, row_number() OVER () AS n FROM tasks LIMIT 10000) f
WHERE tasks.task_id = f.task_id;
INSERT INTO tasks (task_id, request_id, trace_id, work_type, agent_type, priority, parameters,
                   status, created_at, updated_at, concurrency_key, concurrency_max_running,
                   admitted_at, waiting_reason)
SELECT gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), 'backup', 'infra', 1 + i % 5,
       '{}', CASE WHEN i % 11 < 2 THEN 'running' ELSE 'pending' END,
       now() - i * interval '1 second', now(), 'db-' || (i % 100), 2,
       CASE WHEN i % 11 < 2 THEN now() END,
       CASE WHEN i % 11 < 2 THEN NULL ELSE 'concurrency_limit' END
FROM generate_series(1, 2200) AS i;
ANALYZE tasks; ANALYZE schedules;
"""


def cases() -> list[tuple[str, str, list[object]]]:
    now = datetime.now(UTC)
    page, args = sql.page_query(TaskFilter(schedule_id=UUID(int=7)), 5, None, light=True)
    keyed, key_args = sql.page_query(TaskFilter(concurrency_key="db-7"), 50, None, light=True)
    return [
        ("scheduler: due schedules (each tick)", sr.SELECT_DUE, [now, 100]),
        ("API: list schedules", sr.SELECT_ALL, [1000]),
        ("API: one schedule", sr.SELECT_ONE, [uuid4()]),
        ("API: a schedule's last runs (tasks?schedule_id=)", page, args),
        ("API: tasks of a key (tasks?concurrency_key=)", keyed, key_args),
        ("admission: slots held by a key", sql.SLOTS_HELD, ["db-7"]),
        ("admission: the key's next task", sql.NEXT_WAITING, ["db-7", now]),
        ("sweep: keys that may admit now", sql.WAITING_KEYS, [500, now]),
    ]


async def explain(conn: asyncpg.Connection, query: str, args: list[object]) -> tuple[str, float]:
    rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {query}", *args)
    lines = [r[0] for r in rows]
    spent = float(re.search(r"Execution Time: ([\d.]+)", lines[-1]).group(1))  # type: ignore[union-attr]
    nodes = [ln.strip().lstrip("-> ").split("  (")[0] for ln in lines if "(cost=" in ln]
    return " / ".join(nodes[:4]), spent


async def measure(dsn: str, tasks: int, schedules: int, runs: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
        await seed(dsn, tasks)
        await conn.execute(SCHEDULES, schedules)
        await conn.execute(FIRED_AND_KEYED)
        for name, query, args in cases():
            best, plan = float("inf"), ""
            for _ in range(runs):
                plan, spent = await explain(conn, query, args)
                best = min(best, spent)
            print(f"{name:52} {best:7.3f} ms  {plan}")
    finally:
        await conn.close()


def main(tasks: int, schedules: int, runs: int) -> None:
    with fresh_database("chiffon_schedq") as dsn:
        asyncio.run(measure(dsn, tasks, schedules, runs))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--schedules", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    opts = parser.parse_args()
    main(opts.tasks, opts.schedules, opts.runs)
