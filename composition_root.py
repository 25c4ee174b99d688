"""Composition root: settings -> punq container -> running orchestrator or agent.

The only module that knows every adapter. Nothing else reads the environment or the container.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

import attrs
import punq
from aiohttp import web

from adapters import cli
from adapters.http.app import create_app
from adapters.memory.agent_registry import InMemoryAgentRegistry
from adapters.memory.broker import InMemoryBroker
from adapters.memory.bus import InMemoryAgentBus, InMemoryWorkBus
from adapters.memory.notifier import InMemoryNotifier
from adapters.memory.task_repository import InMemoryTaskRepository
from adapters.system import logs
from adapters.system.clock import RandomIds, SystemClock
from adapters.system.resources import PsutilResourceProbe
from chiffon.agent import AgentRuntime
from chiffon.config import OrchestratorConfig
from chiffon.demo_handlers import demo
from chiffon.handlers import HandlerRegistry
from chiffon.leases import LeaseKeeper
from chiffon.messages import OutboxFactory
from chiffon.orchestrator import OrchestratorService
from chiffon.relay import OutboxRelay
from chiffon.routing import RoutingTable
from chiffon.sweeper import Sweeper
from chiffon.tracking import AgentMessageTracker
from ports.agent_registry import AgentRegistry
from ports.bus import WorkBus
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
    relay = OutboxRelay(tasks, bus)
    outbox = OutboxFactory(clock, ids)
    leases = LeaseKeeper(tasks, notifier, clock, outbox, config, relay.wake)
    service = OrchestratorService(tasks, agents, notifier, clock, ids, config, relay.wake)
    tracker = AgentMessageTracker(tasks, agents, notifier, clock, outbox, leases, relay.wake)
    sweeper = Sweeper(tasks, agents, notifier, clock, outbox, leases, config, relay.wake)
    readiness = {"store": tasks.ping, "bus": _bus_check(bus)}
    app = create_app(service, readiness, settings.api_token)
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


def serve(settings: Settings) -> None:
    wired = wire_orchestrator(build_container(settings))
    mode = "in memory" if settings.in_memory_bus and not settings.database_url else "durable"
    print(
        f"chiffon serving on http://{settings.host}:{settings.port} ({mode}); "
        f"API docs at http://{settings.host}:{settings.port}/api/docs",
        flush=True,
    )
    web.run_app(wired.app, host=settings.host, port=settings.port, print=None)


def main(argv: Sequence[str] | None = None) -> int:
    command = cli.parse(sys.argv[1:] if argv is None else argv)
    try:
        settings = Settings.from_env(os.environ, **command.overrides)
    except ValueError as exc:
        print(f"chiffon: bad setting: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_format)
    if command.verb == "serve":
        serve(settings)
        return 0
    print(f"chiffon: {command.verb} is not available yet", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
