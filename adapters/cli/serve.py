"""The long-running commands: `serve` (the orchestrator), `agent` and `migrate`: the process's
life (bind, build through the composition root, wait for a signal, stop) and the startup
checks that say what to fix before anything starts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import uuid

import composition_root
from adapters.cli.agent_stop import stop_agent
from adapters.cli.handlers import HandlersNotFound, load_handlers
from adapters.cli.listen import bind
from adapters.cli.settings import Settings
from chiffon.credentials import agent_id_for
from chiffon.handlers import HandlerRegistry
from ports.startup import StartupError

log = logging.getLogger("chiffon")


async def run_server(
    settings: Settings, ready: asyncio.Event | None = None, sock: socket.socket | None = None
) -> None:
    """Serve until SIGINT/SIGTERM, then shut down cleanly; on `sock` when given (a worker of
    `serve --workers N`: its parent bound it)."""
    refuse_unsafe_exposure(settings)
    handlers = _handlers(settings) if settings.in_memory_bus else None
    sock = sock or bind(settings.host, settings.port)  # a port in use is said first
    async with contextlib.AsyncExitStack() as stack:  # the one teardown: in reverse order
        stack.callback(sock.close)
        wired = await composition_root.build_orchestrator(settings, stack, handlers)
        max_connections = await composition_root.serve_http(wired, sock, stack)
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
            max_connections,
        )
        await _until_signalled(ready)
        _hurry_on_second_signal(wired.hurry)


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
    applied = await composition_root.migrate(settings)
    log.info("applied: %s", ", ".join(applied) if applied else "nothing; the schema is up to date")


async def run_agent(settings: Settings) -> None:
    """One agent process on RabbitMQ, until SIGINT/SIGTERM (then a clean goodbye)."""
    if not settings.amqp_url:
        raise StartupError(
            "`chiffon agent` needs CHIFFON_AMQP_URL (or --amqp-url); in memory "
            "mode the agent runs inside `chiffon serve` (give it --handlers there)"
        )
    handlers = _handlers(settings)
    _check_agent_id(settings)
    async with contextlib.AsyncExitStack() as stack:
        runtime = await composition_root.build_agent(settings, handlers, stack)
        await runtime.start()
        log.info(
            "chiffon agent %s (%s: %s) taking work, concurrency %d; Ctrl-C stops",
            runtime.agent_id,
            settings.agent_type,
            ", ".join(sorted(handlers)),
            settings.concurrency,
        )
        await _until_signalled(None)
        await stop_agent(runtime, settings.shutdown_grace_s)


def _check_agent_id(settings: Settings) -> None:
    """An agent proves its id with its key, so CHIFFON_AGENT_ID can only repeat the key's."""
    if not settings.agent_id:
        return
    if not settings.agent_key:
        raise StartupError(
            "CHIFFON_AGENT_ID is derived from CHIFFON_AGENT_KEY (the agent proves its id with "
            "the key): set CHIFFON_AGENT_KEY for a stable id, and drop CHIFFON_AGENT_ID"
        )
    agent_id = agent_id_for(settings.agent_key)  # what its heartbeats are checked against
    if uuid.UUID(settings.agent_id) != agent_id:
        raise StartupError(
            "CHIFFON_AGENT_ID is derived from CHIFFON_AGENT_KEY (the agent proves its id with "
            f"the key): with this key it is {agent_id}; give the key alone for a stable id"
        )
