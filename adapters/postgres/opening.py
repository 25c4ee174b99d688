"""Opening PostgreSQL for a replica or for `chiffon migrate`, with every failure an operator can
fix said in one line (StartupError): which setting, what is wrong, what to do."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg
import attrs

from adapters.postgres.agent_registry import PostgresAgentRegistry
from adapters.postgres.migrations import migrate
from adapters.postgres.pool import (
    DatabaseRefused,
    SchemaNotMigrated,
    asyncpg_connect,
    check_schema,
    create_pool,
)
from adapters.postgres.replica_key import shared_secret
from adapters.postgres.schedule_repository import PostgresScheduleRepository
from adapters.postgres.task_repository import PostgresTaskRepository
from chiffon.errors import DependencyUnavailable
from ports.startup import StartupError, redact

log = logging.getLogger("chiffon")
POOL_CLOSE_S = 5.0  # at shutdown, busy PostgreSQL connections get this long


@attrs.frozen
class PostgresStores:
    """The stores of one replica over one pool, and the replicas' shared key."""

    tasks: PostgresTaskRepository
    agents: PostgresAgentRegistry
    schedules: PostgresScheduleRepository
    shared_key: bytes


async def open_postgres(
    url: str, auto_migrate: bool, stack: contextlib.AsyncExitStack
) -> PostgresStores:
    """A pool (closed by `stack`), migrated at start unless `auto_migrate` is off."""
    where = redact(url)
    try:
        pool = await create_pool(url)
    except DependencyUnavailable as exc:
        raise StartupError(
            f"cannot reach PostgreSQL at {where} (CHIFFON_DATABASE_URL): {exc}; is it running?"
        ) from exc
    except DatabaseRefused as exc:
        raise StartupError(
            f"PostgreSQL at {where} refused chiffon: {exc} (CHIFFON_DATABASE_URL)"
        ) from None
    stack.push_async_callback(_close_pool, pool)
    try:
        if auto_migrate:
            async with pool.acquire() as conn:
                applied = await migrate(conn)
            if applied:
                log.info("applied migrations: %s", ", ".join(applied))
        await check_schema(pool)
    except SchemaNotMigrated as exc:
        raise StartupError(str(exc)) from exc
    return PostgresStores(
        PostgresTaskRepository(pool),
        PostgresAgentRegistry(pool),
        PostgresScheduleRepository(pool),
        await shared_secret(pool),
    )


async def migrate_database(url: str | None) -> list[str]:
    """`chiffon migrate`: the migrations applied now (none when the schema is up to date)."""
    if not url:
        raise StartupError("set CHIFFON_DATABASE_URL (or --database-url) to migrate")
    where = redact(url)
    try:
        conn = await asyncpg_connect(url)
    except DependencyUnavailable as exc:
        raise StartupError(f"cannot reach PostgreSQL at {where}: {exc}") from exc
    except DatabaseRefused as exc:
        raise StartupError(f"PostgreSQL at {where} refused chiffon: {exc}") from None
    try:
        return await migrate(conn)
    finally:
        await conn.close()


async def _close_pool(pool: asyncpg.Pool) -> None:
    """Close gracefully (each connection once its holder is done), but not forever."""
    try:
        async with asyncio.timeout(POOL_CLOSE_S):
            await pool.close()
    except TimeoutError:
        log.warning("PostgreSQL connections still busy after %.0fs; closing them", POOL_CLOSE_S)
        pool.terminate()
