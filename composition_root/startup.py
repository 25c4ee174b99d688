"""Opening what the orchestrator stands on (store, bus, listening socket), with every failure
an operator can fix said in one line: which setting, what is wrong, what to do."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
from typing import Any

import asyncpg

from adapters.amqp.connection import AmqpConnection, BrokerRefused
from adapters.amqp.notifier import AmqpNotifier
from adapters.amqp.work_bus import AmqpWorkBus
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
from chiffon.credentials import ReplicaKey
from chiffon.errors import DependencyUnavailable
from composition_root.settings import Settings
from ports.agent_registry import AgentRegistry
from ports.bus import BusUnavailable, WorkBus
from ports.notifier import EventSource, Notifier
from ports.schedule_repository import ScheduleRepository
from ports.task_repository import TaskRepository

log = logging.getLogger("chiffon")
POOL_CLOSE_S = 5.0  # at shutdown, busy PostgreSQL connections get this long


class StartupError(Exception):
    """A problem the operator must fix before chiffon can start (said without a traceback)."""


def redact(url: str) -> str:
    head, at, tail = url.rpartition("@")
    return f"{head.split('://')[0]}://***@{tail}" if at else url


async def open_store(settings: Settings, stack: contextlib.AsyncExitStack) -> dict[Any, object]:
    """PostgreSQL adapters (migrated at start unless auto_migrate is off), or nothing."""
    if not settings.database_url:
        return {}
    where = redact(settings.database_url)
    try:
        pool = await create_pool(settings.database_url)
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
        if settings.auto_migrate:
            async with pool.acquire() as conn:
                applied = await migrate(conn)
            if applied:
                log.info("applied migrations: %s", ", ".join(applied))
        await check_schema(pool)
    except SchemaNotMigrated as exc:
        raise StartupError(str(exc)) from exc
    stores: dict[Any, object] = {
        TaskRepository: PostgresTaskRepository(pool),
        AgentRegistry: PostgresAgentRegistry(pool),
        ScheduleRepository: PostgresScheduleRepository(pool),
    }
    if not settings.replica_key:  # CHIFFON_REPLICA_KEY wins over the database's
        stores[ReplicaKey] = ReplicaKey(await shared_secret(pool))
    return stores


async def open_bus(
    settings: Settings, stack: contextlib.AsyncExitStack, key: ReplicaKey
) -> dict[Any, object]:
    """RabbitMQ adapters, or nothing. A broker that is down does not stop the start: dispatch
    keeps storing work (the outbox holds it) and /ready says the bus is down until it is back.
    A broker that refuses us (credentials, vhost) does: that needs a different setting."""
    if not settings.amqp_url:
        return {}
    conn = AmqpConnection(settings.amqp_url, name="orchestrator")
    stack.push_async_callback(conn.close)
    bus = AmqpWorkBus(conn, settings.amqp_namespace)
    # One channel for events and work: an announcement is routed before the work it caused
    # without waiting for its confirm (see AmqpNotifier.flush).
    notifier = AmqpNotifier(conn, settings.amqp_namespace, publisher=bus.publisher, key=key)
    stack.push_async_callback(notifier.close)
    await notifier.start()
    await conn.start()
    await wait_for_broker(conn, settings, keep_waiting=False)
    return {WorkBus: bus, Notifier: notifier, EventSource: notifier}


async def wait_for_broker(conn: AmqpConnection, settings: Settings, keep_waiting: bool) -> None:
    """Wait for the first connection: until it comes (`keep_waiting`, for agents, who cannot
    work without it) or for the configured while. A refusal is a StartupError."""
    assert settings.amqp_url is not None
    while True:
        try:
            await conn.wait_connected(settings.amqp_connect_wait_s)
            return
        except BrokerRefused as exc:
            raise StartupError(
                f"{exc} at {redact(settings.amqp_url)}: fix CHIFFON_AMQP_URL"
            ) from None
        except BusUnavailable:
            log.warning(
                "RabbitMQ does not answer at %s yet; %s",
                redact(settings.amqp_url),
                "waiting" if keep_waiting else "accepting work, retrying in the background",
            )
            if not keep_waiting:
                return


def listen_error(settings: Settings, exc: OSError) -> StartupError:
    """Why `serve` cannot listen where it was told to, and which setting to change."""
    where = f"{settings.host}:{settings.port}"
    if exc.errno == errno.EADDRINUSE:
        why = "the port is in use (another chiffon?); pick another with --port / CHIFFON_PORT"
    elif exc.errno == errno.EADDRNOTAVAIL:
        why = "that address is not on this machine; fix --host / CHIFFON_HOST"
    elif exc.errno == errno.EACCES:
        why = "permission denied (ports below 1024 need privileges); use a higher --port"
    else:
        why = f"{exc.strerror or exc}; check --host / --port"
    return StartupError(f"cannot listen on {where}: {why}")


async def migrate_database(settings: Settings) -> list[str]:
    if not settings.database_url:
        raise StartupError("set CHIFFON_DATABASE_URL (or --database-url) to migrate")
    where = redact(settings.database_url)
    try:
        conn = await asyncpg_connect(settings.database_url)
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
