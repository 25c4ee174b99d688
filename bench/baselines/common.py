"""What the baselines share: a fresh database (async), serving an app until SIGTERM, JSON."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import secrets
import sys
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from harness import ADMIN_DSN, AMQP_BASE

__all__ = ["ADMIN_DSN", "AMQP_BASE", "create_database", "drop_database", "dumps", "serve"]


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def create_database(prefix: str) -> tuple[str, str]:
    """CREATE DATABASE <prefix>_<pid>_<hex>; returns (name, dsn)."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    await _admin(f'CREATE DATABASE "{name}"')
    return name, ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"


async def drop_database(name: str) -> None:
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(value: Any) -> str:
    return json.dumps(value, default=_default)


def server_args(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8090)
    return p


def serve(app: web.Application, host: str, port: int) -> None:
    """Serve until SIGINT/SIGTERM; the app's cleanup_ctx then runs (and cleans up)."""
    print(f"serving on http://{host}:{port}", flush=True)
    web.run_app(app, host=host, port=port, access_log=None, print=None)
