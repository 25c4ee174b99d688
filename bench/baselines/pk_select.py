"""Baseline (e), the status read ceiling: a bare aiohttp handler doing one SELECT by primary key
on asyncpg and answering the row as JSON.

    .venv/bin/python bench/baselines/pk_select.py --port 8092 --seed 2000 --ids-file ids.txt

It creates a fresh database (dropped at exit) with a `tasks` table shaped like chiffon's (the
columns GET /api/v1/status shows), seeds `--seed` pending tasks and writes their ids, one per
line, to --ids-file (for bench/status.lua). GET /api/v1/status/{task_id} answers the row.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import create_database, drop_database, dumps, serve, server_args

POOL = web.AppKey("pool", asyncpg.Pool)

SCHEMA = """
CREATE TABLE tasks (
    task_id uuid PRIMARY KEY,
    request_id uuid NOT NULL UNIQUE,
    trace_id uuid NOT NULL,
    status text NOT NULL,
    work_type text NOT NULL,
    agent_type text NOT NULL,
    priority smallint NOT NULL,
    parameters jsonb NOT NULL,
    progress_percent smallint,
    progress_message text,
    output text,
    result jsonb,
    error_message text,
    exit_code integer,
    duration_ms integer,
    attempt integer NOT NULL DEFAULT 1,
    max_attempts integer NOT NULL DEFAULT 3,
    agent_id uuid,
    timeout_s double precision,
    deadline_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    finished_at timestamptz
)"""
SELECT = "SELECT * FROM tasks WHERE task_id = $1"


async def status(request: web.Request) -> web.Response:
    try:
        task_id = uuid.UUID(request.match_info["task_id"])
    except ValueError:
        return web.json_response({"error_code": 1000}, status=400)
    row = await request.app[POOL].fetchrow(SELECT, task_id)
    if row is None:
        return web.json_response({"error_code": 2001}, status=404)
    task = dict(row)
    for key in ("parameters", "result"):
        if isinstance(task[key], str):
            task[key] = json.loads(task[key])
    return web.json_response(task, dumps=dumps)


async def health(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def make_app(seed: int, ids_file: Path | None) -> web.Application:
    app = web.Application()

    async def resources(app: web.Application) -> AsyncIterator[None]:
        db_name, dsn = await create_database("bench_pk")
        try:
            pool = await asyncpg.create_pool(dsn, min_size=1, max_size=10)
            await pool.execute(SCHEMA)
            ids = [uuid.uuid4() for _ in range(seed)]
            await pool.executemany(
                "INSERT INTO tasks (task_id, request_id, trace_id, status, work_type, "
                "agent_type, priority, parameters) "
                "VALUES ($1, $2, $3, 'pending', 'bench', 'bench', 3, '{\"n\": 1}')",
                [(i, uuid.uuid4(), uuid.uuid4()) for i in ids],
            )
            await pool.execute("ANALYZE tasks")
            if ids_file is not None:
                await asyncio.to_thread(ids_file.write_text, "".join(f"{i}\n" for i in ids))
            app[POOL] = pool
            yield
            await pool.close()
        finally:
            await drop_database(db_name)

    app.cleanup_ctx.append(resources)
    app.router.add_get("/api/v1/status/{task_id}", status)
    app.router.add_get("/health", health)
    return app


def main() -> None:
    p = server_args(__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=2000, help="tasks to insert")
    p.add_argument("--ids-file", type=Path, help="write the seeded task ids here")
    a = p.parse_args()
    serve(make_app(a.seed, a.ids_file), a.host, a.port)


if __name__ == "__main__":
    main()
