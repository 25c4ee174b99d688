"""Wiring: settings -> punq container -> the orchestrator's objects, each resolved once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, cast

import attrs
import punq
from aiohttp import web

from adapters.amqp.notifier import AmqpNotifier
from adapters.http.app import create_app
from adapters.http.metrics.observer import MetricsObserver
from adapters.http.metrics.recorder import MeteredNotifier
from adapters.http.metrics.registry import ChiffonMetrics
from adapters.http.metrics.schedule_observer import MetricsScheduleObserver
from adapters.http.ws_limits import WsLimits
from adapters.memory.agent_registry import InMemoryAgentRegistry
from adapters.memory.broker import InMemoryBroker
from adapters.memory.bus import HEARTBEATS, RESULTS, InMemoryAgentBus, InMemoryWorkBus
from adapters.memory.notifier import InMemoryNotifier
from adapters.memory.schedule_repository import InMemoryScheduleRepository
from adapters.memory.task_repository import InMemoryTaskRepository
from adapters.system.clock import RandomIds, SystemClock
from adapters.system.resources import PsutilResourceProbe
from chiffon.agent import AgentRuntime
from chiffon.config import OrchestratorConfig
from chiffon.credentials import ReplicaKey, agent_id_for, new_agent_key
from chiffon.fresh_outbox import FreshOutbox
from chiffon.handlers import HandlerRegistry
from chiffon.keyed_lock import KeyedLock
from chiffon.leases import LeaseKeeper
from chiffon.ledger import TaskLedger
from chiffon.messages import OutboxFactory
from chiffon.orchestrator import OrchestratorService
from chiffon.relay import OutboxRelay
from chiffon.report_gate import ReportGate
from chiffon.retention import RetentionPolicy, RetentionSweeper
from chiffon.routing import RoutingTable
from chiffon.schedule_service import ScheduleService
from chiffon.scheduler import Scheduler
from chiffon.sweeper import Sweeper
from chiffon.tracking import AgentMessageTracker
from chiffon.waiting import AgentAvailability
from composition_root.handlers import load_handlers
from composition_root.settings import Settings
from ports.agent_registry import AgentRegistry
from ports.bus import WorkBus
from ports.clock import Clock, IdFactory
from ports.notifier import EventSource, Notifier
from ports.observer import ChangeObserver
from ports.schedule_observer import ScheduleObserver
from ports.schedule_repository import ScheduleRepository
from ports.task_repository import TaskRepository

IN_PROCESS_AGENT_CONCURRENCY = 4
SCHEDULER_TICK_S = 0.25  # the drift bound: a fire waits up to one tick (bench/schedule_drift.py)
STOP_LOOPS_S = 5.0  # the background loops get this long to stop at shutdown

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
    services: tuple[type, ...] = (FreshOutbox, KeyedLock, OutboxFactory, AgentAvailability)
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
        agent = _in_process_agent(settings, broker, c.resolve(IdFactory), handlers)
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
    if isinstance(events, AmqpNotifier):  # frames not from a replica, counted with the rest
        events.on_refused = observer.refused
    app.cleanup_ctx.append(
        _background(wired, c.resolve(OrchestratorConfig), observer, settings.shutdown_grace_s)
    )
    return wired


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
    ids: IdFactory,
    handlers: HandlerRegistry | None,
) -> AgentRuntime:
    """Memory mode's agent: the demo handlers, or those of CHIFFON_HANDLERS / --handlers."""
    agent_key = new_agent_key()
    agent_id = agent_id_for(agent_key)
    return AgentRuntime(
        InMemoryAgentBus(broker, agent_id),
        handlers if handlers is not None else load_handlers(settings.handlers),
        agent_id,
        settings.agent_type,
        PsutilResourceProbe(),
        concurrency=max(settings.concurrency, IN_PROCESS_AGENT_CONCURRENCY),
        heartbeat_interval_s=settings.heartbeat_interval_s,
        agent_key=agent_key,
    )


def _bus_check(bus: WorkBus) -> Callable[[], Awaitable[None]]:
    async def check() -> None:
        if not bus.is_connected():
            raise ConnectionError("message bus disconnected")

    return check


def _background(
    wired: Orchestrator, config: OrchestratorConfig, observer: ChangeObserver, grace_s: float
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def run(_: web.Application) -> AsyncIterator[None]:
        await wired.bus.consume_agent_messages(wired.tracker.handle, observer.refused)
        # An in-process bus starts empty: what it held before is gone, the relay resends it.
        lost_work = wired.broker is not None
        loops = [
            asyncio.create_task(wired.relay.run(lost_work), name="outbox-relay"),
            asyncio.create_task(wired.sweeper.run(config.sweep_interval_s), name="sweeper"),
            asyncio.create_task(wired.retention.run(), name="retention"),
        ]
        if wired.scheduler is not None:
            loops.append(
                asyncio.create_task(wired.scheduler.run(SCHEDULER_TICK_S), name="scheduler")
            )
        if wired.demo_agent is not None:
            await wired.demo_agent.start()
        yield
        if wired.demo_agent is not None:
            await _drain(wired.demo_agent, wired.broker, grace_s, wired.hurry)
        for loop in loops:
            loop.cancel()
        # Bounded: a loop caught in a broker or database call must not hold the exit forever.
        _stopped, stuck = await asyncio.wait(loops, timeout=STOP_LOOPS_S)
        for loop in stuck:
            log.warning(
                "%s did not stop within %.0fs; shutting down anyway", loop.get_name(), STOP_LOOPS_S
            )
        await wired.bus.close()
        if wired.broker is not None:
            await wired.broker.close()

    return run


async def _drain(
    agent: AgentRuntime, broker: InMemoryBroker | None, grace_s: float, hurry: asyncio.Event
) -> None:
    """The in-process agent takes no more work, finishes what runs within `grace_s` (or until
    `hurry`: a second Ctrl-C), and hands the rest back as lost (its goodbye); the
    orchestrator applies its last results and the loss policy before it stops, so the next
    start (or, on PostgreSQL, another replica) retries them (ADR 0007)."""
    running = len(agent.running_tasks)
    if running:
        log.info(
            "finishing %d running task(s) for up to %.0fs (CHIFFON_SHUTDOWN_GRACE_S); "
            "Ctrl-C again stops now",
            running,
            grace_s,
        )
    await agent.stop(grace_s=grace_s, hurry=hurry)
    if broker is not None and not await broker.drained((RESULTS, HEARTBEATS), STOP_LOOPS_S):
        log.warning("the agent's last reports were not all applied within %.0fs", STOP_LOOPS_S)
