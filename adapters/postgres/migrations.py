"""Plain-SQL schema migrations, applied in name order and recorded in schema_migrations."""

from __future__ import annotations

from importlib import resources

import asyncpg

# Any fixed 64-bit key: every replica that migrates at start waits on the same lock.
MIGRATION_LOCK_KEY = 0x63686966666F6E  # "chiffon"

_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


def available_migrations() -> dict[str, str]:
    """Version (file name without .sql) -> SQL, in application order."""
    folder = resources.files("adapters.postgres").joinpath("migrations")
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return {f.name.removesuffix(".sql"): f.read_text(encoding="utf-8") for f in files}


async def applied_migrations(conn: asyncpg.Connection) -> set[str]:
    if await conn.fetchval("SELECT to_regclass('schema_migrations')") is None:
        return set()
    return {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}


async def pending_migrations(conn: asyncpg.Connection) -> list[str]:
    """Versions not applied yet, in the order `migrate` would apply them."""
    done = await applied_migrations(conn)
    return [v for v in available_migrations() if v not in done]


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply every pending migration, each in its own transaction; returns those applied.
    A session advisory lock makes replicas that start together apply each file once."""
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        await conn.execute(_CREATE_LEDGER)
        done = await applied_migrations(conn)
        applied: list[str] = []
        for version, script in available_migrations().items():
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(script)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())",
                    version,
                )
            applied.append(version)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
