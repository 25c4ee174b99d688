"""PostgreSQL test fixtures: a fresh migrated database per session and a clean pool per test.

Reuse from any test folder with `pytest_plugins = ["tests.pg_fixtures"]` (top-level conftest)
or by importing the fixtures into a conftest. PostgreSQL that does not answer FAILS the tests.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from adapters.postgres.migrations import migrate
from adapters.postgres.pool import create_pool

ADMIN_DSN_ENV = "CHIFFON_TEST_ADMIN_DSN"
DEFAULT_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
TABLES = ("tasks", "agents", "outbox", "schedules")


def admin_dsn() -> str:
    return os.environ.get(ADMIN_DSN_ENV, DEFAULT_ADMIN_DSN)


def dsn_for(database: str) -> str:
    """The admin DSN pointed at another database."""
    parts = urlsplit(admin_dsn())
    return urlunsplit(parts._replace(path=f"/{database}"))


async def admin_connect() -> asyncpg.Connection:
    try:
        return await asyncpg.connect(admin_dsn(), timeout=10)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        pytest.fail(
            f"PostgreSQL does not answer at {admin_dsn()} ({type(exc).__name__}: {exc}); start it"
            " (see docs/services: pg_ctlcluster ... main start) or set " + ADMIN_DSN_ENV,
            pytrace=False,
        )


async def create_database(migrated: bool) -> str:
    """Create `chiffon_test_<hex>` (migrated or empty) and return its DSN."""
    name = f"chiffon_test_{secrets.token_hex(6)}"
    admin = await admin_connect()
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    if migrated:
        conn = await asyncpg.connect(dsn_for(name), timeout=10)
        try:
            await migrate(conn)
        finally:
            await conn.close()
    return dsn_for(name)


async def drop_database(dsn: str) -> None:
    name = urlsplit(dsn).path.lstrip("/")
    admin = await admin_connect()
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def _database(migrated: bool) -> Iterator[str]:
    dsn = asyncio.run(create_database(migrated))
    try:
        yield dsn
    finally:
        asyncio.run(drop_database(dsn))


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """DSN of a fresh, migrated database for the whole session; dropped at the end."""
    yield from _database(migrated=True)


@pytest.fixture
def pg_empty_database() -> Iterator[str]:
    """DSN of a fresh database with no schema at all (for migration tests); dropped after."""
    yield from _database(migrated=False)


@pytest.fixture
async def pg_pool(pg_database: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the session database, with every table emptied first."""
    pool = await create_pool(pg_database, min_size=1, max_size=4)
    try:
        await pool.execute(f"TRUNCATE {', '.join(TABLES)}")
        yield pool
    finally:
        await pool.close()
