"""Test helpers: waiting for asynchronous outcomes, and a wired in-memory orchestrator."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from uuid import UUID, uuid4

import punq

from adapters.memory.broker import InMemoryBroker
from adapters.memory.bus import InMemoryAgentBus
from adapters.memory.clock import ManualClock, SequentialIds
from chiffon.agent import AgentRuntime
from chiffon.commands import DispatchCommand
from chiffon.credentials import AgentIdentity, ReplicaKey, agent_id_for, new_agent_key
from chiffon.demo_handlers import demo
from chiffon.events import Event
from chiffon.handlers import HandlerRegistry
from chiffon.model import JsonObject, Task, TaskStatus
from composition_root import Orchestrator, Settings, build_container, wire_orchestrator
from ports.clock import Clock, IdFactory

T = TypeVar("T")

# The replicas' key in tests that build their own agents' reports (they carry its leases).
TEST_KEY = ReplicaKey(b"the replica key of chiffon's tests")


def lease(task_id: UUID, attempt: int = 1) -> str:
    """The lease token an agent holding this attempt got with its work (TEST_KEY's)."""
    return TEST_KEY.lease(task_id, attempt)


def new_agent() -> tuple[UUID, str]:
    """An agent id and the key that proves it (chiffon.credentials)."""
    key = new_agent_key()
    return agent_id_for(key), key


async def eventually(
    probe: Callable[[], Awaitable[T]], until: Callable[[T], bool], timeout: float = 3.0
) -> T:
    """Poll `probe` until `until(value)` holds; fail with the last value after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if until(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {value!r}")
        await asyncio.sleep(0.01)


class StaticProbe:
    def sample(self) -> JsonObject:
        return {"cpu_percent": 1.0, "memory_percent": 2.0, "load": 0.1, "memory_free_mb": 1000}


class Stack:
    """An orchestrator wired by the composition root on in-memory adapters, with a manual
    clock and sequential ids; its bus consumer and relay run, and agents can be added."""

    def __init__(
        self, wired: Orchestrator, clock: ManualClock, container: punq.Container | None = None
    ) -> None:
        self.wired = wired
        self.container = container
        self.clock = clock
        self.service = wired.service
        self.events: list[Event] = []
        self.agents: list[tuple[AgentRuntime, InMemoryAgentBus]] = []
        wired.events.subscribe(self.events.append)

    @property
    def broker(self) -> InMemoryBroker:
        assert self.wired.broker is not None
        return self.wired.broker

    async def add_agent(
        self,
        handlers: HandlerRegistry = demo,
        concurrency: int = 2,
        agent_type: str = "demo",
        heartbeat_interval_s: float = 30.0,
        bus_type: Callable[[InMemoryBroker, UUID], InMemoryAgentBus] = InMemoryAgentBus,
    ) -> tuple[AgentRuntime, InMemoryAgentBus]:
        """An agent on the in-memory broker; `bus_type` makes its bus (a test's fault layer)."""
        agent_id, key = new_agent()
        bus = bus_type(self.broker, agent_id)
        runtime = AgentRuntime(
            bus,
            handlers,
            AgentIdentity(agent_type, key),
            StaticProbe(),
            concurrency,
            heartbeat_interval_s,
        )
        await runtime.start()
        self.agents.append((runtime, bus))
        return runtime, bus

    async def dispatch(self, work_type: str = "echo", **kw: Any) -> Task:
        task, _ = await self.service.dispatch(DispatchCommand(uuid4(), work_type, **kw))
        return task

    async def task(self, task_id: UUID) -> Task:
        return await self.service.get_task(task_id)

    async def until_status(
        self, task_id: UUID, *statuses: TaskStatus, timeout: float = 3.0
    ) -> Task:
        return await eventually(lambda: self.task(task_id), lambda t: t.status in statuses, timeout)


@asynccontextmanager
async def running_stack(
    instances: dict[Any, object] | None = None, **settings: Any
) -> AsyncIterator[Stack]:
    """`instances`: adapters to use for these ports (as build_container's overrides)."""
    clock = ManualClock()
    container = build_container(
        Settings(demo_agent=False, **settings),
        {Clock: clock, IdFactory: SequentialIds(), ReplicaKey: TEST_KEY, **(instances or {})},
    )
    wired = wire_orchestrator(container)
    stack = Stack(wired, clock, container)
    await wired.bus.consume_agent_messages(wired.tracker.handle)
    relay = asyncio.create_task(wired.relay.run())
    try:
        yield stack
    finally:
        for runtime, bus in stack.agents:
            if bus.is_connected():
                await runtime.stop(grace_s=0.1)
        relay.cancel()
        await asyncio.gather(relay, return_exceptions=True)
        await wired.bus.close()
        await stack.broker.close()
