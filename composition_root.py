"""The composition root: settings -> punq container -> a running orchestrator or agent.

The one module that chooses adapters and builds the object graph; nothing else asks the
container for anything. The command line (adapters/cli) reads the settings, binds the socket,
watches the signals and calls `build_orchestrator` / `serve_http` / `build_agent` with one exit
stack that closes, in reverse order, what they opened: the HTTP runner (whose cleanup stops the
background loops and drains the in-process agent), the bus, the pool (docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, cast

import attrs
import punq
from aiohttp import web

from adapters.amqp.notifier import AmqpNotifier
from adapters.amqp.opening import BrokerSettings, open_agent_bus, open_orchestrator_bus
from adapters.cli.handlers import load_handlers
from adapters.cli.settings import DEMO_AGENT_TYPE, Settings
from adapters.http.app import create_app
from adapters.http.metrics.observer import MetricsObserver
from adapters.http.metrics.recorder import MeteredNotifier
from adapters.http.metrics.registry import ChiffonMetrics
from adapters.http.metrics.schedule_observer import MetricsScheduleObserver
from adapters.http.server import ChiffonAppRunner
from adapters.http.ws_limits import WsLimits
from adapters.memory.agent_registry import InMemoryAgentRegistry
from adapters.memory.broker import InMemoryBroker
from adapters.memory.bus import HEARTBEATS, RESULTS, InMemoryAgentBus, InMemoryWorkBus
from adapters.memory.notifier import InMemoryNotifier
from adapters.memory.schedule_repository import InMemoryScheduleRepository
from adapters.memory.simulation import simulate_command
from adapters.memory.task_repository import InMemoryTaskRepository
from adapters.postgres.opening import migrate_database, open_postgres
from adapters.system.clock import RandomIds, SystemClock
from adapters.system.resources import PsutilResourceProbe
from chiffon.agent import AgentRuntime
from chiffon.config import OrchestratorConfig
from chiffon.credentials import AgentIdentity, ReplicaKey, agent_id_for, new_agent_key
from chiffon.decider import Decider
from chiffon.fresh_outbox import FreshOutbox
from chiffon.handlers import HandlerRegistry
from chiffon.leases import LeaseKeeper
from chiffon.ledger import TaskLedger
from chiffon.messages import OutboxFactory
from chiffon.orchestrator import OrchestratorService
from chiffon.relay import OutboxRelay
from chiffon.replica_loops import InProcessBus, ReplicaLoops
from chiffon.report_gate import ReportGate
from chiffon.retention import RetentionPolicy, RetentionSweeper
from chiffon.routing import RoutingTable
from chiffon.schedule_service import ScheduleService
from chiffon.scheduler import Scheduler
from chiffon.sweeper import Sweeper
from chiffon.tracking import AgentMessageTracker
from chiffon.waiting import AgentAvailability
from ports.agent_registry import AgentRegistry
from ports.bus import AgentBus, WorkBus
from ports.clock import Clock, IdFactory
from ports.notifier import EventSource, Notifier
from ports.observer import ChangeObserver
from ports.schedule_observer import ScheduleObserver
from ports.schedule_repository import ScheduleRepository
from ports.task_repository import (
    LedgerStore,
    OutboxStore,
    SweepQueries,
    TaskQueries,
    TaskRepository,
)

IN_PROCESS_AGENT_CONCURRENCY = 4
SHUTDOWN_TIMEOUT_S = 10.0  # open requests get this long once a stop was asked for

__all__ = [
    "DEMO_AGENT_TYPE",
    "Orchestrator",
    "Settings",
    "build_agent",
    "build_container",
    "build_orchestrator",
    "migrate",
    "serve_http",
    "simulate",
    "wire_orchestrator",
    "wire_simulated_replica",
]

log = logging.getLogger("chiffon")


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
    retention: RetentionSweeper
    broker: InMemoryBroker | None = None
    demo_agent: AgentRuntime | None = None
    scheduler: Scheduler | None = None
    loops: ReplicaLoops | None = None
    hurry: asyncio.Event = attrs.Factory(asyncio.Event)  # set: stop draining, stop now


Overrides = Mapping[Any, object]  # a port (or concrete type) -> the instance to use for it


def build_container(settings: Settings, overrides: Overrides | None = None) -> punq.Container:
    """Register every port's adapter (in-memory unless `overrides` gives another instance for
    the port type) and every service; punq builds the graph from the constructors' types."""
    c = punq.Container()
    given = dict(overrides or {})
    single = punq.Scope.singleton

    def port(service: Any, default: Any) -> None:
        if service in given:
            c.register(service, instance=given.pop(service))
        else:
            c.register(service, default, scope=single)

    c.register(Settings, instance=settings)
    c.register(OrchestratorConfig, instance=_config(settings))
    # Look every minute, or more often for a short retention (tests, demos).
    every = min(60.0, max(1.0, min(settings.retention, settings.agent_retention) / 10))
    retention = RetentionPolicy(settings.retention, settings.agent_retention, every)
    c.register(RetentionPolicy, instance=retention)
    metrics = ChiffonMetrics()
    c.register(ChiffonMetrics, instance=metrics)
    port(Clock, SystemClock)
    port(IdFactory, RandomIds)
    port(TaskRepository, lambda: InMemoryTaskRepository(settings.memory_max_finished))
    for narrow in (LedgerStore, TaskQueries, OutboxStore, SweepQueries):  # one store, cut by user
        c.register(narrow, factory=lambda: c.resolve(TaskRepository))
    port(AgentRegistry, InMemoryAgentRegistry)
    port(ScheduleRepository, InMemoryScheduleRepository)
    c.register(InMemoryBroker, instance=given.pop(InMemoryBroker, None) or InMemoryBroker())
    port(WorkBus, InMemoryWorkBus)
    raw = cast(Notifier, given.pop(Notifier, None) or InMemoryNotifier())
    # The domain announces through the metered notifier (task metrics, counted once per
    # change, by the replica that made it); live push listens to the notifier itself.
    c.register(EventSource, instance=given.pop(EventSource, raw))
    c.register(Notifier, instance=MeteredNotifier(raw, metrics))
    observer = MetricsObserver(metrics)
    c.register(ChangeObserver, instance=observer)
    # The key replicas share (leases, signed notify): the store's, or one for this process.
    key = cast(ReplicaKey, given.pop(ReplicaKey, None) or replica_key(settings))
    c.register(ReplicaKey, instance=key)
    c.register(ReportGate, instance=ReportGate(key, observer))
    c.register(ScheduleObserver, instance=MetricsScheduleObserver(metrics))
    if given:
        raise TypeError(f"nothing to override for {sorted(map(str, given))}")
    services: tuple[type, ...] = (FreshOutbox, OutboxFactory, AgentAvailability, Decider)
    services += (TaskLedger,)
    services += (LeaseKeeper, OrchestratorService, AgentMessageTracker, Sweeper, OutboxRelay)
    services += (RetentionSweeper, Scheduler, ScheduleService)
    for service in services:  # singletons: one of each, built from its constructor's types
        c.register(service, scope=single)
    return c


def wire_orchestrator(c: punq.Container, handlers: HandlerRegistry | None = None) -> Orchestrator:
    """Resolve each top-level object once and hand them to the app and the runners. In memory
    mode an agent runs in this process, with `handlers` (default: from the settings)."""
    settings: Settings = c.resolve(Settings)
    tasks: TaskRepository = c.resolve(TaskRepository)
    bus: WorkBus = c.resolve(WorkBus)
    events: EventSource = c.resolve(EventSource)
    service: OrchestratorService = c.resolve(OrchestratorService)
    app = create_app(
        service,
        {"store": tasks.ping, "bus": _bus_check(bus)},
        settings.api_token,
        events=events,
        ws_limits=_ws_limits(settings),
        allowed_origins=settings.origins,
        metrics=c.resolve(ChiffonMetrics),
        allowed_hosts=settings.hosts,
        schedules=c.resolve(ScheduleService),
    )
    broker = c.resolve(InMemoryBroker) if settings.in_memory_bus else None
    agent = None
    if broker is not None and settings.demo_agent:
        agent = _in_process_agent(settings, broker, handlers)
    wired = Orchestrator(
        app,
        service,
        tasks,
        c.resolve(AgentRegistry),
        c.resolve(OutboxRelay),
        c.resolve(Sweeper),
        c.resolve(AgentMessageTracker),
        bus,
        events,
        c.resolve(RetentionSweeper),
        broker,
        agent,
        scheduler=c.resolve(Scheduler),
    )
    observer: ChangeObserver = c.resolve(ChangeObserver)
    in_process = None
    if broker is not None:
        in_process = InProcessBus(agent, functools.partial(broker.drained, (RESULTS, HEARTBEATS)))
    wired.loops = ReplicaLoops(
        bus,
        wired.tracker,
        observer,
        (wired.relay, wired.sweeper, wired.retention, c.resolve(Scheduler)),
        c.resolve(OrchestratorConfig).sweep_interval_s,
        in_process,
    )
    if isinstance(events, AmqpNotifier):  # frames not from a replica, counted with the rest
        events.on_refused = observer.refused
    app.cleanup_ctx.append(_lifecycle(wired, settings.shutdown_grace_s))
    return wired


async def build_orchestrator(
    settings: Settings,
    stack: contextlib.AsyncExitStack,
    handlers: HandlerRegistry | None = None,
) -> Orchestrator:
    """Open the store and the bus the settings name (closed by `stack`) and wire a replica
    over them: PostgreSQL and RabbitMQ where their URLs are set, memory otherwise."""
    given: dict[Any, object] = {}
    key = ReplicaKey(settings.replica_key.encode()) if settings.replica_key else None
    if settings.database_url:
        stores = await open_postgres(settings.database_url, settings.auto_migrate, stack)
        given[TaskRepository] = stores.tasks
        given[AgentRegistry] = stores.agents
        given[ScheduleRepository] = stores.schedules
        key = key or ReplicaKey(stores.shared_key)  # CHIFFON_REPLICA_KEY wins over the store's
    given[ReplicaKey] = key = key or ReplicaKey.random()
    if settings.amqp_url:
        bus = await open_orchestrator_bus(_broker(settings), key, stack)
        given |= {WorkBus: bus.work, Notifier: bus.notifier, EventSource: bus.notifier}
    return wire_orchestrator(build_container(settings, given), handlers)


async def serve_http(
    wired: Orchestrator, sock: socket.socket, stack: contextlib.AsyncExitStack
) -> int:
    """Serve the replica's app on `sock` until `stack` closes; the most connections it takes."""
    runner = ChiffonAppRunner(
        wired.app, handle_signals=False, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S
    )
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    await web.SockSite(runner, sock).start()
    return runner.max_connections


async def build_agent(
    settings: Settings, handlers: HandlerRegistry, stack: contextlib.AsyncExitStack
) -> AgentRuntime:
    """An agent process on RabbitMQ (it waits for the broker's first answer)."""
    agent_key = settings.agent_key or new_agent_key()
    agent_id = agent_id_for(agent_key)
    bus = await open_agent_bus(_broker(settings), agent_id, settings.agent_type, stack)
    return _agent_runtime(bus, handlers, agent_key, settings, settings.concurrency)


async def migrate(settings: Settings) -> list[str]:
    """`chiffon migrate`: the migrations it applied."""
    return await migrate_database(settings.database_url)


def wire_simulated_replica(
    overrides: dict[Any, object], heartbeat_interval_s: float
) -> Orchestrator:
    """One orchestrator of `chiffon simulate`'s world, over the world's faulty parts."""
    settings = Settings(demo_agent=False, heartbeat_interval_s=heartbeat_interval_s)
    return wire_orchestrator(build_container(settings, overrides))


def simulate(options: dict[str, Any]) -> int:
    """`chiffon simulate`: a seeded faulty world on virtual time (adapters/memory/simulation)."""
    return simulate_command(options, wire_simulated_replica)


def _broker(settings: Settings) -> BrokerSettings:
    assert settings.amqp_url is not None
    return BrokerSettings(settings.amqp_url, settings.amqp_namespace, settings.amqp_connect_wait_s)


def replica_key(settings: Settings) -> ReplicaKey:
    """CHIFFON_REPLICA_KEY, or a key of this process's own (memory mode; PostgreSQL mode
    reads the replicas' shared one from the database instead)."""
    if settings.replica_key:
        return ReplicaKey(settings.replica_key.encode())
    return ReplicaKey.random()


def _config(settings: Settings) -> OrchestratorConfig:
    return OrchestratorConfig(
        routing=RoutingTable.parse(settings.routes),
        heartbeat_interval_s=settings.heartbeat_interval_s,
        missed_heartbeats=settings.missed_heartbeats,
        unlisted_after_s=settings.unlisted_after_s,
    )


def _ws_limits(settings: Settings) -> WsLimits:
    return WsLimits(
        queue_frames=settings.ws_queue_size,
        queue_bytes=settings.ws_queue_bytes,
        total_bytes=settings.ws_total_bytes,
        max_connections=settings.ws_max_connections,
        max_per_client=settings.ws_max_per_client,
    )


def _in_process_agent(
    settings: Settings,
    broker: InMemoryBroker,
    handlers: HandlerRegistry | None,
) -> AgentRuntime:
    """Memory mode's agent: the demo handlers, or those of CHIFFON_HANDLERS / --handlers."""
    agent_key = new_agent_key()
    return _agent_runtime(
        InMemoryAgentBus(broker, agent_id_for(agent_key)),
        handlers if handlers is not None else load_handlers(settings.handlers),
        agent_key,
        settings,
        concurrency=max(settings.concurrency, IN_PROCESS_AGENT_CONCURRENCY),
    )


def _agent_runtime(
    bus: AgentBus,
    handlers: HandlerRegistry,
    agent_key: str,
    settings: Settings,
    concurrency: int,
) -> AgentRuntime:
    """Every agent, in process or on RabbitMQ, is built here: its id proven by its key."""
    return AgentRuntime(
        bus,
        handlers,
        AgentIdentity(settings.agent_type, agent_key),
        PsutilResourceProbe(),
        concurrency=concurrency,
        heartbeat_interval_s=settings.heartbeat_interval_s,
    )


def _bus_check(bus: WorkBus) -> Callable[[], Awaitable[None]]:
    async def check() -> None:
        if not bus.is_connected():
            raise ConnectionError("message bus disconnected")

    return check


def _lifecycle(
    wired: Orchestrator, grace_s: float
) -> Callable[[web.Application], AsyncIterator[None]]:
    """The app's startup and cleanup: the replica's loops (and memory mode's broker) with it."""

    async def run(_: web.Application) -> AsyncIterator[None]:
        assert wired.loops is not None
        await wired.loops.start()
        yield
        await wired.loops.stop(grace_s, wired.hurry)
        if wired.broker is not None:
            await wired.broker.close()

    return run
