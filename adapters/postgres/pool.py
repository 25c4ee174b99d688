"""The asyncpg pool (with its jsonb codec) and the check that the schema is migrated."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg

from adapters.postgres.errors import database_errors
from adapters.postgres.migrations import pending_migrations


class SchemaNotMigrated(Exception):
    """The database lacks migrations this version of chiffon needs."""


class DatabaseRefused(Exception):
    """PostgreSQL answered but will not let us in (no such database or role, wrong
    password): waiting will not help, the setting must change."""


REFUSALS: tuple[type[BaseException], ...] = (
    asyncpg.InvalidCatalogNameError,
    asyncpg.InvalidAuthorizationSpecificationError,
    asyncpg.InvalidPasswordError,
    asyncpg.InsufficientPrivilegeError,
    asyncpg.ClientConfigurationError,
)


@contextmanager
def refusals_explained() -> Iterator[None]:
    try:
        yield
    except REFUSALS as exc:
        raise DatabaseRefused(str(exc).splitlines()[0][:300]) from None


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog", format="text"
    )


async def create_pool(
    dsn: str,
    min_size: int = 1,
    max_size: int = 10,
    connect_timeout: float = 5.0,
    command_timeout: float | None = 30.0,
) -> asyncpg.Pool:
    """A pool whose connections read and write jsonb as Python JSON values. A database that
    cannot be reached raises DependencyUnavailable (after `connect_timeout`, not forever)."""
    with refusals_explained(), database_errors():
        pool: asyncpg.Pool = await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            timeout=connect_timeout,
            command_timeout=command_timeout,
            init=_init_connection,
        )
    return pool


async def check_schema(pool: asyncpg.Pool, acquire_timeout: float = 5.0) -> None:
    """Raise SchemaNotMigrated if any migration is pending."""
    with database_errors():
        async with pool.acquire(timeout=acquire_timeout) as conn:
            pending = await pending_migrations(conn)
    if pending:
        raise SchemaNotMigrated(
            f"the database schema is not up to date (pending: {', '.join(pending)});"
            " run `chiffon migrate`"
        )


async def asyncpg_connect(dsn: str, connect_timeout_s: float = 5.0) -> asyncpg.Connection:
    """One plain connection (for migrations); unreachable raises DependencyUnavailable."""
    with refusals_explained(), database_errors():
        conn: asyncpg.Connection = await asyncpg.connect(dsn, timeout=connect_timeout_s)
    return conn
