"""End-to-end fixtures: a fresh database per module, a fresh vhost per test, real processes.

PostgreSQL or RabbitMQ that do not answer FAIL these tests (never skip). Every process a test
starts is killed at teardown, pass or fail; on failure the tail of each one's output is printed.
Every test that passed ends with the history checker over the tasks it made (tests.history):
a violation fails it, before its processes are stopped.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import pytest

from tests.amqp_fixtures import base_url, fresh_vhost
from tests.e2e.harness import HEARTBEAT_INTERVAL_S, Cluster
from tests.history import assert_database_history_clean
from tests.pg_fixtures import create_database, drop_database


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    setattr(item, f"e2e_report_{report.when}", report)
    return report


def _failed(node: pytest.Item) -> bool:
    return any(
        getattr(getattr(node, f"e2e_report_{when}", None), "failed", False)
        for when in ("setup", "call")
    )


async def _migrated(dsn: str) -> bool:
    """Whether a `chiffon serve` of this module made the schema (one that only failed to
    start, e.g. on another database, did not: then there is no history to check)."""
    conn = await asyncpg.connect(dsn)
    try:
        return bool(await conn.fetchval("SELECT to_regclass('tasks') IS NOT NULL"))
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def e2e_database() -> Iterator[str]:
    """DSN of a fresh, empty database for this module (`chiffon serve` migrates it)."""
    dsn = asyncio.run(create_database(migrated=False))
    try:
        yield dsn
    finally:
        asyncio.run(drop_database(dsn))


@pytest.fixture
def e2e_vhost() -> Iterator[str]:
    """A RabbitMQ vhost of this test only, deleted (with its connections) afterwards."""
    with fresh_vhost("chiffon-e2e") as vhost:
        yield vhost


@pytest.fixture
async def cluster(
    request: pytest.FixtureRequest, tmp_path: Path, e2e_database: str, e2e_vhost: str
) -> AsyncIterator[Cluster]:
    parts = urlsplit(base_url())
    amqp_url = urlunsplit(parts._replace(path="/" + quote(e2e_vhost, safe="")))
    stack = Cluster(tmp_path, e2e_database, amqp_url, e2e_vhost, f"e2e{secrets.token_hex(4)}")
    started = datetime.now(UTC)
    broken = False
    try:
        yield stack
        if await _migrated(e2e_database) and not _failed(request.node):
            broken = True
            await assert_database_history_clean(e2e_database, HEARTBEAT_INTERVAL_S, started)
            broken = False
    finally:
        await stack.close(failed=broken or _failed(request.node))
