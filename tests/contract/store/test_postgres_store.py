"""PostgreSQL-only store behaviour: migrations, schema check, constraints, outages."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import asyncpg
import pytest

from adapters.postgres.agent_registry import PostgresAgentRegistry
from adapters.postgres.migrations import available_migrations, migrate, pending_migrations
from adapters.postgres.pool import SchemaNotMigrated, check_schema, create_pool
from adapters.postgres.task_repository import PostgresTaskRepository
from chiffon.changes import dispatched
from chiffon.errors import DependencyUnavailable, InvalidRequest
from chiffon.model import TaskStatus
from tests.contract.store.builders import make_task
from tests.pg_fixtures import admin_connect

pytestmark = pytest.mark.postgres

VERSIONS = list(available_migrations())


@pytest.fixture
async def empty_conn(pg_empty_database: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(pg_empty_database)
    try:
        yield conn
    finally:
        await conn.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens here once the socket is closed


async def test_migrations_are_package_data_in_name_order() -> None:
    assert VERSIONS[0] == "0001_initial"
    assert sorted(VERSIONS) == VERSIONS


async def test_migrate_applies_in_order_and_records(empty_conn: asyncpg.Connection) -> None:
    assert await pending_migrations(empty_conn) == VERSIONS
    assert await migrate(empty_conn) == VERSIONS
    rows = await empty_conn.fetch("SELECT * FROM schema_migrations ORDER BY version")
    assert [r["version"] for r in rows] == VERSIONS
    assert all(r["applied_at"] is not None for r in rows)
    assert await pending_migrations(empty_conn) == []
    assert await migrate(empty_conn) == []  # a second run changes nothing


async def test_concurrent_migrations_apply_each_file_once(pg_empty_database: str) -> None:
    conns = [await asyncpg.connect(pg_empty_database) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate(c) for c in conns))
        count = await conns[0].fetchval("SELECT count(*) FROM schema_migrations")
    finally:
        for conn in conns:
            await conn.close()
    assert sorted(v for applied in results for v in applied) == VERSIONS
    assert count == len(VERSIONS)


async def test_check_schema_refuses_an_unmigrated_database(pg_empty_database: str) -> None:
    pool = await create_pool(pg_empty_database, min_size=0, max_size=1)
    try:
        with pytest.raises(SchemaNotMigrated, match="run `chiffon migrate`"):
            await check_schema(pool)
        async with pool.acquire() as conn:
            await migrate(conn)
        await check_schema(pool)
    finally:
        await pool.close()


async def test_check_constraints_guard_priority_and_status(pg_pool: asyncpg.Pool) -> None:
    repo = PostgresTaskRepository(pg_pool)
    with pytest.raises(asyncpg.CheckViolationError):
        bad = make_task(priority=6)
        await repo.create(bad, dispatched(bad), [])
    task = make_task()
    await repo.create(task, dispatched(task), [])
    with pytest.raises(asyncpg.CheckViolationError):
        await pg_pool.execute("UPDATE tasks SET status = 'lost' WHERE task_id = $1", task.task_id)


async def test_json_null_and_sql_null_results_read_the_same(pg_pool: asyncpg.Pool) -> None:
    repo = PostgresTaskRepository(pg_pool)
    task = make_task(status=TaskStatus.RUNNING)
    await repo.create(task, dispatched(task), [])
    assert await pg_pool.fetchval("SELECT result IS NULL FROM tasks") is True
    await pg_pool.execute("UPDATE tasks SET result = 'null'::jsonb")
    assert await repo.get(task.task_id) == task


async def test_unreachable_database_is_dependency_unavailable() -> None:
    dsn = f"postgresql://postgres@127.0.0.1:{closed_port()}/postgres"
    with pytest.raises(DependencyUnavailable, match="database unavailable"):
        await create_pool(dsn, min_size=1)
    pool = await create_pool(dsn, min_size=0)
    try:
        repo, registry = PostgresTaskRepository(pool), PostgresAgentRegistry(pool)
        for call in (repo.ping(), repo.get(make_task().task_id), registry.find()):
            with pytest.raises(DependencyUnavailable, match="database unavailable"):
                await call
    finally:
        await pool.close()


async def test_exhausted_pool_times_out_as_unavailable(pg_pool: asyncpg.Pool) -> None:
    repo = PostgresTaskRepository(pg_pool, acquire_timeout=0.2)
    held = [await pg_pool.acquire() for _ in range(pg_pool.get_max_size())]
    try:
        with pytest.raises(DependencyUnavailable):
            await repo.get(make_task().task_id)
    finally:
        for conn in held:
            await pg_pool.release(conn)


async def test_terminated_connections_never_leak_driver_errors(
    pg_pool: asyncpg.Pool, pg_database: str
) -> None:
    repo = PostgresTaskRepository(pg_pool)
    task = make_task()
    await repo.create(task, dispatched(task), [])
    admin = await admin_connect()
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            pg_database.rsplit("/", 1)[1],
        )
    finally:
        await admin.close()
    outcomes = []
    for _ in range(3):  # each call either works or says the database is unavailable
        try:
            outcomes.append(await repo.get(task.task_id))
        except DependencyUnavailable:
            outcomes.append(None)
    assert outcomes[-1] == task  # and the pool reconnects


async def test_one_poison_task_among_200_concurrent_fails_alone(pg_pool: asyncpg.Pool) -> None:
    """Group commit: the batch fails, is committed again item by item, only the bad one fails."""
    repo = PostgresTaskRepository(pg_pool)
    good = [make_task(created_s=i) for i in range(200)]
    poison = make_task(parameters={"text": "jsonb refuses \x00"})
    tasks = [*good[:100], poison, *good[100:]]
    outcomes = await asyncio.gather(
        *(repo.create(t, dispatched(t), []) for t in tasks), return_exceptions=True
    )
    failed = [t for t, o in zip(tasks, outcomes, strict=True) if isinstance(o, BaseException)]
    assert failed == [poison]
    error = outcomes[100]
    assert isinstance(error, InvalidRequest) and error.error_code == 1000
    assert await pg_pool.fetchval("SELECT count(*) FROM tasks") == 200
    assert [await repo.get(t.task_id) for t in good] == good


async def test_0012_repairs_the_status_of_settled_cancels_in_old_timelines(
    pg_pool: asyncpg.Pool,
) -> None:
    repo = PostgresTaskRepository(pg_pool)
    task = make_task()
    await repo.create(task, dispatched(task), [])
    insert = (
        "INSERT INTO task_events (task_id, revision, at, kind, status, changes)"
        " VALUES ($1, $2, now(), $3, $4, '{}'::jsonb)"
    )
    for revision, kind, status in [
        (2, "started", "running"),
        (3, "cancelled", "cancelled"),
        (4, "cancel_confirmed", "running"),  # as versions before 0012 wrote it
    ]:
        await pg_pool.execute(insert, task.task_id, revision, kind, status)
    await pg_pool.execute(available_migrations()["0012_settled_cancel_events"])
    rows = await pg_pool.fetch(
        "SELECT status FROM task_events WHERE task_id = $1 ORDER BY revision", task.task_id
    )
    assert [r["status"] for r in rows] == ["pending", "running", "cancelled", "cancelled"]
