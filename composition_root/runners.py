"""The long-running commands: `serve` (the orchestrator), `agent` and `migrate`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import uuid

from aiohttp import web

from adapters.amqp.agent_bus import AmqpAgentBus
from adapters.amqp.connection import AmqpConnection
from adapters.http.server import ChiffonAppRunner
from adapters.system.resources import PsutilResourceProbe
from chiffon.agent import AgentRuntime
from chiffon.credentials import ReplicaKey, agent_id_for, new_agent_key
from chiffon.handlers import HandlerRegistry
from composition_root.agent_stop import stop_agent
from composition_root.handlers import HandlersNotFound, load_handlers
from composition_root.settings import Settings
from composition_root.startup import (
    StartupError,
    listen_error,
    migrate_database,
    open_bus,
    open_store,
    wait_for_broker,
)
from composition_root.wiring import build_container, replica_key, wire_orchestrator

log = logging.getLogger("chiffon")

SHUTDOWN_TIMEOUT_S = 10.0  # open requests get this long once a stop was asked for


async def run_server(
    settings: Settings, ready: asyncio.Event | None = None, sock: socket.socket | None = None
) -> None:
    """Serve until SIGINT/SIGTERM, then shut down cleanly; on `sock` when given (a worker of
    `serve --workers N`: its parent bound it)."""
    refuse_unsafe_exposure(settings)
    handlers = _handlers(settings) if settings.in_memory_bus else None
    sock = sock or _bind(settings)  # first: a port in use is said before anything else starts
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(sock.close)
        instances = await open_store(settings, stack)
        key = instances.setdefault(ReplicaKey, replica_key(settings))
        assert isinstance(key, ReplicaKey)
        instances.update(await open_bus(settings, stack, key))
        wired = wire_orchestrator(build_container(settings, instances), handlers)
        runner = ChiffonAppRunner(
            wired.app, handle_signals=False, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S
        )
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        await web.SockSite(runner, sock).start()
        store = "PostgreSQL" if settings.database_url else "memory"
        bus = "RabbitMQ" if settings.amqp_url else "memory, an agent in process"
        log.info(
            "chiffon serving on http://%s:%s (store: %s; bus: %s); API docs at /api/docs; "
            "Ctrl-C stops",
            settings.host,
            settings.port,
            store,
            bus,
        )
        log.info(
            "at most %d open connections (below the descriptor limit); more are refused 429",
            runner.max_connections,
        )
        await _until_signalled(ready)
        _hurry_on_second_signal(wired.hurry)


def _bind(settings: Settings) -> socket.socket:
    try:
        family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
        return socket.create_server((settings.host.strip("[]"), settings.port), family=family)
    except OSError as exc:
        raise listen_error(settings, exc) from None


def refuse_unsafe_exposure(settings: Settings) -> None:
    """Listening beyond this machine without a token lets anyone who can reach it run work."""
    if settings.loopback_only or settings.api_token or settings.insecure:
        return
    raise StartupError(
        f"refusing to listen on {settings.host} without CHIFFON_API_TOKEN: anyone who can reach "
        "it could dispatch and cancel work; set a token, or pass --insecure "
        "(CHIFFON_INSECURE=true) if something else guards it"
    )


def _handlers(settings: Settings) -> HandlerRegistry:
    try:
        return load_handlers(settings.handlers)
    except HandlersNotFound as exc:
        raise StartupError(str(exc)) from None


async def _until_signalled(ready: asyncio.Event | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    await stop.wait()
    log.info("chiffon: shutting down")


def _hurry_on_second_signal(hurry: asyncio.Event) -> None:
    """A second Ctrl-C (or SIGTERM) while the in-process agent drains: stop now (what still
    runs is handed back as lost)."""

    def now() -> None:
        if not hurry.is_set():
            log.warning("chiffon: stopping now; running tasks are handed back as lost")
            hurry.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, now)


async def run_migrate(settings: Settings) -> None:
    applied = await migrate_database(settings)
    log.info("applied: %s", ", ".join(applied) if applied else "nothing; the schema is up to date")


async def run_agent(settings: Settings) -> None:
    """One agent process on RabbitMQ, until SIGINT/SIGTERM (then a clean goodbye)."""
    if not settings.amqp_url:
        raise StartupError(
            "`chiffon agent` needs CHIFFON_AMQP_URL (or --amqp-url); in memory "
            "mode the agent runs inside `chiffon serve` (give it --handlers there)"
        )
    handlers = _handlers(settings)
    agent_key = settings.agent_key or new_agent_key()
    agent_id = agent_id_for(agent_key)  # what the orchestrator checks its heartbeats against
    if settings.agent_id and uuid.UUID(settings.agent_id) != agent_id:
        raise StartupError(
            "CHIFFON_AGENT_ID is derived from CHIFFON_AGENT_KEY (the agent proves its id with "
            f"the key): with this key it is {agent_id}; give the key alone for a stable id"
        )
    async with contextlib.AsyncExitStack() as stack:
        conn = AmqpConnection(settings.amqp_url, name=f"agent-{agent_id}")
        stack.push_async_callback(conn.close)
        await conn.start()
        await wait_for_broker(conn, settings, keep_waiting=True)
        bus = AmqpAgentBus(conn, agent_id, settings.amqp_namespace, settings.agent_type)
        runtime = AgentRuntime(
            bus,
            handlers,
            agent_id,
            settings.agent_type,
            PsutilResourceProbe(),
            settings.concurrency,
            settings.heartbeat_interval_s,
            agent_key,
        )
        await runtime.start()
        log.info(
            "chiffon agent %s (%s: %s) taking work, concurrency %d; Ctrl-C stops",
            agent_id,
            settings.agent_type,
            ", ".join(sorted(handlers)),
            settings.concurrency,
        )
        await _until_signalled(None)
        await stop_agent(runtime, settings.shutdown_grace_s)
