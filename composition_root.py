"""Composition root: settings -> punq container -> running orchestrator or agent.

The only module that knows every adapter. Nothing else reads the environment or the container.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

import attrs
import punq
from aiohttp import web

from adapters import cli
from adapters.amqp.agent_bus import AmqpAgentBus
from adapters.amqp.connection import AmqpConnection
from adapters.amqp.notifier import AmqpNotifier
from adapters.amqp.work_bus import AmqpWorkBus
from adapters.http.app import create_app
from adapters.http.client import cli as client_cli
from adapters.memory.agent_registry import InMemoryAgentRegistry
from adapters.memory.broker import InMemoryBroker
from adapters.memory.bus import InMemoryAgentBus, InMemoryWorkBus
from adapters.memory.notifier import InMemoryNotifier
from adapters.memory.task_repository import InMemoryTaskRepository
from adapters.postgres.agent_registry import PostgresAgentRegistry
from adapters.postgres.migrations import migrate
from adapters.postgres.pool import SchemaNotMigrated, asyncpg_connect, check_schema, create_pool
from adapters.postgres.task_repository import PostgresTaskRepository
from adapters.system import logs
from adapters.system.clock import RandomIds, SystemClock
from adapters.system.resources import PsutilResourceProbe
from chiffon.agent import AgentRuntime
from chiffon.config import OrchestratorConfig
from chiffon.demo_handlers import demo
from chiffon.errors import DependencyUnavailable
from chiffon.handlers import HandlerRegistry
from chiffon.keyed_lock import KeyedLock
from chiffon.leases import LeaseKeeper
from chiffon.messages import OutboxFactory
from chiffon.orchestrator import OrchestratorService
from chiffon.relay import OutboxRelay
from chiffon.routing import RoutingTable
from chiffon.sweeper import Sweeper
from chiffon.tracking import AgentMessageTracker
from ports.agent_registry import AgentRegistry
from ports.bus import BusUnavailable, WorkBus
from ports.clock import Clock, IdFactory
from ports.notifier import EventSource, Notifier
from ports.task_repository import TaskRepository

log = logging.getLogger("chiffon")

DEMO_AGENT_TYPE = "demo"


@attrs.frozen
class Settings:
    """Every tunable, from CHIFFON_* environment variables, overridden by command-line flags."""

    host: str = "127.0.0.1"
    port: int = 8080
    database_url: str | None = None
    amqp_url: str | None = None
    heartbeat_interval_s: float = 30.0
    routes: str = ""
    api_token: str | None = None
    log_format: str = "text"
    demo_agent: bool = True
    agent_type: str = DEMO_AGENT_TYPE
    concurrency: int = 1
    handlers: str = ""
    agent_id: str | None = None
    amqp_namespace: str = "chiffon"
    amqp_connect_wait_s: float = 5.0
    auto_migrate: bool = True
    shutdown_grace_s: float = 30.0
    ws_queue_size: int = 1000

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: Any) -> Settings:
        values: dict[str, Any] = {}
        for field in attrs.fields(cls):
            raw = env.get(f"CHIFFON_{field.name.upper()}")
            if raw is not None and raw != "":
                values[field.name] = _convert(field.name, raw, field.default)
        values.update(overrides)
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if not 0.05 <= self.heartbeat_interval_s <= 3600:
            raise ValueError("heartbeat interval must be between 0.05 and 3600 seconds")
        if self.ws_queue_size < 1:
            raise ValueError("the WebSocket queue size must be at least 1")
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        RoutingTable.parse(self.routes)

    @property
    def in_memory_bus(self) -> bool:
        return not self.amqp_url


def _convert(name: str, raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw


@attrs.define
class Orchestrator:
    """The wired orchestrator: the HTTP app plus what runs beside it."""

    app: web.Application
    service: OrchestratorService
    tasks: TaskRepository
    agents: AgentRegistry
    relay: OutboxRelay
    sweeper: Sweeper
    tracker: AgentMessageTracker
    bus: WorkBus
    events: EventSource
    broker: InMemoryBroker | None = None
    demo_agent: AgentRuntime | None = None


def build_container(settings: Settings, **instances: Any) -> punq.Container:
    """Register every port's adapter; `instances` (keyed by port name) replace defaults."""
    c = punq.Container()
    single = punq.Scope.singleton

    def put(port: Any, name: str, factory: Callable[[], Any]) -> None:
        if name in instances:
            c.register(port, instance=instances[name])
        else:
            c.register(port, factory=factory, scope=single)

    c.register(Settings, instance=settings)
    put(Clock, "clock", SystemClock)
    put(IdFactory, "ids", RandomIds)
    put(TaskRepository, "tasks", InMemoryTaskRepository)
    put(AgentRegistry, "agents", InMemoryAgentRegistry)
    notifier = instances.get("notifier") or InMemoryNotifier()
    c.register(Notifier, instance=notifier)
    c.register(EventSource, instance=instances.get("events", notifier))
    put(InMemoryBroker, "broker", InMemoryBroker)
    put(WorkBus, "bus", lambda: InMemoryWorkBus(c.resolve(InMemoryBroker)))
    c.register(
        OrchestratorConfig,
        instance=OrchestratorConfig(
            routing=RoutingTable.parse(settings.routes),
            heartbeat_interval_s=settings.heartbeat_interval_s,
        ),
    )
    return c


def wire_orchestrator(c: punq.Container) -> Orchestrator:
    """Resolve each top-level object once and hand them to the app and the runners."""
    settings: Settings = c.resolve(Settings)
    tasks, agents = c.resolve(TaskRepository), c.resolve(AgentRegistry)
    notifier, clock, ids = c.resolve(Notifier), c.resolve(Clock), c.resolve(IdFactory)
    config: OrchestratorConfig = c.resolve(OrchestratorConfig)
    bus: WorkBus = c.resolve(WorkBus)
    relay = OutboxRelay(tasks, bus, notifier, clock)
    outbox = OutboxFactory(clock, ids)
    order = KeyedLock()  # one per-task order for every writer, so events follow the store
    leases = LeaseKeeper(tasks, notifier, clock, outbox, config, relay.submit, order)
    service = OrchestratorService(tasks, agents, notifier, clock, ids, config, relay.submit, order)
    tracker = AgentMessageTracker(
        tasks, agents, notifier, clock, outbox, leases, relay.submit, order
    )
    sweeper = Sweeper(tasks, agents, notifier, clock, outbox, leases, config, relay.submit, order)
    readiness = {"store": tasks.ping, "bus": _bus_check(bus)}
    app = create_app(
        service,
        readiness,
        settings.api_token,
        events=c.resolve(EventSource),
        ws_queue_size=settings.ws_queue_size,
    )
    broker = c.resolve(InMemoryBroker) if settings.in_memory_bus else None
    demo_agent = None
    if broker is not None and settings.demo_agent:
        agent_id = ids.new_id()
        demo_agent = AgentRuntime(
            InMemoryAgentBus(broker, agent_id),
            demo,
            agent_id,
            DEMO_AGENT_TYPE,
            PsutilResourceProbe(),
            concurrency=4,
            heartbeat_interval_s=settings.heartbeat_interval_s,
        )
    wired = Orchestrator(
        app,
        service,
        tasks,
        agents,
        relay,
        sweeper,
        tracker,
        bus,
        c.resolve(EventSource),
        broker,
        demo_agent,
    )
    app.cleanup_ctx.append(_background(wired, config))
    return wired


def _bus_check(bus: WorkBus) -> Callable[[], Awaitable[None]]:
    async def check() -> None:
        if not bus.is_connected():
            raise ConnectionError("message bus disconnected")

    return check


def _background(
    wired: Orchestrator, config: OrchestratorConfig
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def run(_: web.Application) -> AsyncIterator[None]:
        await wired.bus.consume_agent_messages(wired.tracker.handle)
        loops = [
            asyncio.create_task(wired.relay.run(), name="outbox-relay"),
            asyncio.create_task(
                wired.sweeper.run(min(1.0, config.heartbeat_interval_s)), name="sweeper"
            ),
        ]
        if wired.demo_agent is not None:
            await wired.demo_agent.start()
        yield
        if wired.demo_agent is not None:
            await wired.demo_agent.stop(grace_s=2.0)
        for loop in loops:
            loop.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        await wired.bus.close()
        if wired.broker is not None:
            await wired.broker.close()

    return run


def load_handlers(spec: str) -> HandlerRegistry:
    """`module[:object]` entries, comma-separated; empty means the demo handlers."""
    import importlib

    registry = HandlerRegistry()
    for item in filter(None, (s.strip() for s in spec.split(","))) if spec else ["demo"]:
        if item == "demo":
            registry.merge(demo)
            continue
        module_name, _, attr = item.partition(":")
        found = getattr(importlib.import_module(module_name), attr or "handlers")
        if not isinstance(found, HandlerRegistry):
            raise ValueError(f"{item} is not a chiffon.handlers.HandlerRegistry")
        registry.merge(found)
    return registry


class StartupError(Exception):
    """A problem the operator must fix before chiffon can start (said without a traceback)."""


async def open_store(settings: Settings, stack: contextlib.AsyncExitStack) -> dict[str, Any]:
    """PostgreSQL adapters (migrated at start unless auto_migrate is off), or nothing."""
    if not settings.database_url:
        return {}
    try:
        pool = await create_pool(settings.database_url)
    except DependencyUnavailable as exc:
        raise StartupError(
            f"cannot reach PostgreSQL at {_redact(settings.database_url)}: {exc}"
        ) from exc
    stack.push_async_callback(pool.close)
    try:
        if settings.auto_migrate:
            async with pool.acquire() as conn:
                applied = await migrate(conn)
            if applied:
                log.info("applied migrations: %s", ", ".join(applied))
        await check_schema(pool)
    except SchemaNotMigrated as exc:
        raise StartupError(str(exc)) from exc
    return {"tasks": PostgresTaskRepository(pool), "agents": PostgresAgentRegistry(pool)}


async def open_bus(settings: Settings, stack: contextlib.AsyncExitStack) -> dict[str, Any]:
    """RabbitMQ adapters, or nothing. A broker that is down does not stop the start: dispatch
    keeps storing work (the outbox holds it) and /ready says the bus is down until it is back."""
    if not settings.amqp_url:
        return {}
    conn = AmqpConnection(settings.amqp_url, name="orchestrator")
    stack.push_async_callback(conn.close)
    notifier = AmqpNotifier(conn, settings.amqp_namespace)
    stack.push_async_callback(notifier.close)
    await notifier.start()
    await conn.start()
    try:
        await conn.wait_connected(settings.amqp_connect_wait_s)
    except BusUnavailable:
        log.warning(
            "RabbitMQ does not answer at %s yet; accepting work, retrying in the background",
            _redact(settings.amqp_url),
        )
    bus = AmqpWorkBus(conn, settings.amqp_namespace)
    return {"bus": bus, "notifier": notifier, "events": notifier}


async def run_server(settings: Settings, ready: asyncio.Event | None = None) -> None:
    """Serve until SIGINT/SIGTERM, then shut down cleanly."""
    async with contextlib.AsyncExitStack() as stack:
        instances = await open_store(settings, stack)
        instances.update(await open_bus(settings, stack))
        wired = wire_orchestrator(build_container(settings, **instances))
        runner = web.AppRunner(wired.app, handle_signals=False, access_log=None)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        await web.TCPSite(runner, settings.host, settings.port).start()
        store = "PostgreSQL" if settings.database_url else "memory"
        bus = "RabbitMQ" if settings.amqp_url else "memory, demo agent in process"
        print(
            f"chiffon serving on http://{settings.host}:{settings.port} "
            f"(store: {store}; bus: {bus}); API docs at /api/docs; Ctrl-C stops",
            flush=True,
        )
        await _until_signalled(ready)


async def _until_signalled(ready: asyncio.Event | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    await stop.wait()
    print("chiffon: shutting down", flush=True)


async def run_migrate(settings: Settings) -> None:
    if not settings.database_url:
        raise StartupError("set CHIFFON_DATABASE_URL (or --database-url) to migrate")
    try:
        conn = await asyncpg_connect(settings.database_url)
    except DependencyUnavailable as exc:
        raise StartupError(f"cannot reach PostgreSQL: {exc}") from exc
    try:
        applied = await migrate(conn)
    finally:
        await conn.close()
    print(f"applied: {', '.join(applied)}" if applied else "the schema is up to date")


async def run_agent(settings: Settings) -> None:
    """One agent process on RabbitMQ, until SIGINT/SIGTERM (then a clean goodbye)."""
    if not settings.amqp_url:
        raise StartupError(
            "`chiffon agent` needs CHIFFON_AMQP_URL (or --amqp-url); in memory "
            "mode the demo agent runs inside `chiffon serve`"
        )
    try:
        handlers = load_handlers(settings.handlers)
        agent_id = uuid.UUID(settings.agent_id) if settings.agent_id else uuid.uuid4()
    except (ImportError, AttributeError, ValueError) as exc:
        raise StartupError(f"bad agent setting: {exc}") from exc
    async with contextlib.AsyncExitStack() as stack:
        conn = AmqpConnection(settings.amqp_url, name=f"agent-{agent_id}")
        stack.push_async_callback(conn.close)
        await conn.start()
        while not conn.is_connected():
            try:
                await conn.wait_connected(settings.amqp_connect_wait_s)
            except BusUnavailable:
                log.warning("waiting for RabbitMQ at %s ...", _redact(settings.amqp_url))
        bus = AmqpAgentBus(conn, agent_id, settings.amqp_namespace, settings.agent_type)
        runtime = AgentRuntime(
            bus,
            handlers,
            agent_id,
            settings.agent_type,
            PsutilResourceProbe(),
            settings.concurrency,
            settings.heartbeat_interval_s,
        )
        await runtime.start()
        print(
            f"chiffon agent {agent_id} ({settings.agent_type}: {', '.join(sorted(handlers))}) "
            f"taking work, concurrency {settings.concurrency}; Ctrl-C stops",
            flush=True,
        )
        await _until_signalled(None)
        await runtime.stop(grace_s=settings.shutdown_grace_s)


def _redact(url: str) -> str:
    head, at, tail = url.rpartition("@")
    return f"{head.split('://')[0]}://***@{tail}" if at else url


def main(argv: Sequence[str] | None = None) -> int:
    command = cli.parse(sys.argv[1:] if argv is None else argv, client_cli.add_verbs)
    if command.verb in client_cli.VERBS:  # they need only CHIFFON_URL and CHIFFON_API_TOKEN
        return client_cli.run(command.verb, command.overrides, os.environ)
    try:
        settings = Settings.from_env(os.environ, **command.overrides)
    except ValueError as exc:
        print(f"chiffon: bad setting: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_format)
    runs = {"serve": run_server, "migrate": run_migrate, "agent": run_agent}
    try:
        asyncio.run(runs[command.verb](settings))
    except StartupError as exc:
        print(f"chiffon: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
