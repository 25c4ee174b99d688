"""Baseline (b), the naive durable dispatch: per request one asyncpg INSERT, then one aiormq
publish that waits for its broker confirm, then the answer.

    .venv/bin/python bench/baselines/naive_dispatch.py --port 8091 [--dsn ...] [--amqp-url ...]

Without --dsn it creates a fresh database (dropped at exit); it declares its own durable queue
with a unique name (deleted at exit). POST /api/v1/dispatch takes chiffon's dispatch body.
"""

from __future__ import annotations

import json
import secrets
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiormq
import asyncpg
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import AMQP_BASE, create_database, drop_database, serve, server_args

POOL = web.AppKey("pool", asyncpg.Pool)
CHANNEL = web.AppKey("channel", aiormq.abc.AbstractChannel)
QUEUE = web.AppKey("queue", str)

SCHEMA = """
CREATE TABLE IF NOT EXISTS naive_tasks (
    task_id uuid PRIMARY KEY,
    work_type text NOT NULL,
    parameters jsonb NOT NULL,
    priority smallint NOT NULL,
    status text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
)"""
INSERT = (
    "INSERT INTO naive_tasks (task_id, work_type, parameters, priority, status) "
    "VALUES ($1, $2, $3::jsonb, $4, 'pending')"
)


async def dispatch(request: web.Request) -> web.Response:
    try:
        body = await request.json()
        task_id = uuid.UUID(body["task_id"])
        work_type = str(body["work_type"])
        parameters = body.get("parameters", {})
        priority = int(body.get("priority", 3))
    except (ValueError, KeyError, TypeError):
        return web.json_response({"error_code": 1000}, status=400)
    await request.app[POOL].execute(INSERT, task_id, work_type, json.dumps(parameters), priority)
    message = json.dumps(
        {"task_id": str(task_id), "work_type": work_type, "parameters": parameters}
    ).encode()
    await request.app[CHANNEL].basic_publish(  # waits for the broker's confirm
        message,
        routing_key=request.app[QUEUE],
        properties=aiormq.spec.Basic.Properties(
            delivery_mode=2, priority=priority, content_type="application/json"
        ),
        mandatory=True,
    )
    return web.json_response({"task_id": str(task_id), "status": "pending"})


async def health(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def make_app(dsn: str | None, amqp_url: str) -> web.Application:
    app = web.Application()

    async def resources(app: web.Application) -> AsyncIterator[None]:
        db_name = None
        url = dsn
        if url is None:
            db_name, url = await create_database("bench_naive")
        pool = await asyncpg.create_pool(url, min_size=1, max_size=10)
        await pool.execute(SCHEMA)
        conn = await aiormq.connect(amqp_url)
        channel = await conn.channel(publisher_confirms=True)
        queue = f"bench.naive.{secrets.token_hex(4)}"
        await channel.queue_declare(queue, durable=True, arguments={"x-max-priority": 5})
        app[POOL], app[CHANNEL], app[QUEUE] = pool, channel, queue
        try:
            yield
        finally:
            await channel.queue_delete(queue)
            await conn.close()
            await pool.close()
            if db_name is not None:
                await drop_database(db_name)

    app.cleanup_ctx.append(resources)
    app.router.add_post("/api/v1/dispatch", dispatch)
    app.router.add_get("/health", health)
    return app


def main() -> None:
    p = server_args(__doc__.splitlines()[0])
    p.add_argument("--dsn", help="PostgreSQL DSN (default: a fresh database, dropped at exit)")
    p.add_argument("--amqp-url", default=AMQP_BASE)
    a = p.parse_args()
    serve(make_app(a.dsn, a.amqp_url), a.host, a.port)


if __name__ == "__main__":
    main()
