"""The broker as a boundary, over the in-memory broker and RabbitMQ: anyone with the agents'
broker login can publish, so reports need their attempt's lease token, heartbeats and goodbyes
their agent's key, and messages out of bounds are dead-lettered; each refusal is counted."""

from __future__ import annotations

import json
from uuid import uuid4

import attrs

from adapters.codec import encode_message
from adapters.memory.clock import ManualClock, SequentialIds
from adapters.memory.notifier import InMemoryNotifier
from adapters.memory.task_repository import InMemoryTaskRepository
from chiffon.changes import dispatched
from chiffon.credentials import ReplicaKey
from chiffon.model import AgentMessage, AgentStatus, Heartbeat, Task, TaskStatus, WorkRequest
from chiffon.tracking import AgentMessageTracker
from composition_root import Settings, build_container
from ports.agent_registry import AgentRegistry
from ports.clock import Clock, IdFactory
from ports.notifier import Notifier
from ports.task_repository import TaskRepository
from tests.contract.bus.helpers import eventually, outbox, request, result, status
from tests.contract.bus.worlds import BusWorld
from tests.helpers import TEST_KEY, new_agent


class Orchestrator:
    """The real tracker behind the world's work bus, on in-memory storage."""

    def __init__(self) -> None:
        self.tasks = InMemoryTaskRepository()
        self.clock = ManualClock()
        overrides = {
            TaskRepository: self.tasks,
            Clock: self.clock,
            IdFactory: SequentialIds(),
            Notifier: InMemoryNotifier(),
            ReplicaKey: TEST_KEY,
        }
        container = build_container(Settings(demo_agent=False), overrides)
        self.tracker = container.resolve(AgentMessageTracker)
        self.agents: AgentRegistry = container.resolve(AgentRegistry)
        self.handled: list[AgentMessage] = []

    async def listen(self, world: BusWorld) -> None:
        async def handle(message: AgentMessage) -> None:
            await self.tracker.handle(message)
            self.handled.append(message)

        await (await world.work_bus()).consume_agent_messages(handle)

    async def until_handled(self, count: int) -> None:
        async def enough() -> bool:
            return len(self.handled) >= count

        await eventually(enough)

    async def pending(self, req: WorkRequest) -> Task:
        now = self.clock.now()
        task = Task(
            req.task_id, req.request_id, req.trace_id, req.work_type, req.agent_type,
            req.priority, req.parameters, TaskStatus.PENDING, now, now,
        )  # fmt: skip
        await self.tasks.create(task, dispatched(task), [outbox(req)])
        return task

    async def status_of(self, task: Task) -> TaskStatus:
        stored = await self.tasks.get(task.task_id)
        assert stored is not None
        return stored.status


async def test_a_report_without_its_attempts_lease_is_refused(world: BusWorld) -> None:
    orchestrator = Orchestrator()
    await orchestrator.listen(world)
    req = request()
    task = await orchestrator.pending(req)  # delayed, never sent to anyone: no agent holds it
    forger_id = uuid4()
    forger = await world.agent_bus(forger_id)
    forged = result(forger_id, req)
    await forger.publish(attrs.evolve(forged, lease=""))  # a random agent_id, no token
    await forger.publish(attrs.evolve(forged, lease=TEST_KEY.lease(req.task_id, 2)))  # not this one
    await forger.publish(attrs.evolve(forged, lease=ReplicaKey(b"x" * 32).lease(req.task_id, 1)))
    await orchestrator.until_handled(3)
    assert await orchestrator.status_of(task) == TaskStatus.PENDING
    assert orchestrator.tracker.refused == {"no_lease": 3}
    holder_id = uuid4()
    holder = await world.agent_bus(holder_id)
    await holder.publish(status(holder_id, req.task_id, 0))  # the lease holder is heard
    await holder.publish(result(holder_id, req))
    await orchestrator.until_handled(5)
    assert await orchestrator.status_of(task) == TaskStatus.COMPLETED
    assert orchestrator.tracker.refused == {"no_lease": 3}


async def test_a_goodbye_or_heartbeat_in_another_agents_name_is_refused(world: BusWorld) -> None:
    orchestrator = Orchestrator()
    await orchestrator.listen(world)
    agent_id, key = new_agent()
    bus = await world.agent_bus(agent_id)
    req = request()
    task = await orchestrator.pending(req)
    beat = Heartbeat(
        agent_id, "alpha", AgentStatus.BUSY, ("echo",), 1, (req.task_id,), {}, False, key
    )
    await bus.publish(beat)
    await bus.publish(status(agent_id, req.task_id, 0))
    await orchestrator.until_handled(2)
    assert await orchestrator.status_of(task) == TaskStatus.RUNNING
    forger = await world.agent_bus(uuid4())
    _, other_key = new_agent()
    for forged_key in ("", other_key, key[:-1]):  # the id is public; the key is not
        await forger.publish(attrs.evolve(beat, goodbye=True, agent_key=forged_key))
    await forger.publish(attrs.evolve(beat, status=AgentStatus.ONLINE, agent_key=other_key))
    await orchestrator.until_handled(6)
    assert orchestrator.tracker.refused == {"not_the_agent": 4}
    assert await orchestrator.status_of(task) == TaskStatus.RUNNING  # not moved to attempt 2
    agent = await orchestrator.agents.get(agent_id)
    assert agent is not None and agent.status is AgentStatus.BUSY
    await bus.publish(attrs.evolve(beat, goodbye=True))  # the agent itself may leave
    await orchestrator.until_handled(7)
    agent = await orchestrator.agents.get(agent_id)
    assert agent is not None and agent.status is AgentStatus.OFFLINE


async def test_messages_out_of_bounds_are_dead_lettered(world: BusWorld) -> None:
    orchestrator = Orchestrator()
    await orchestrator.listen(world)
    agent_id, key = new_agent()
    beat = Heartbeat(agent_id, "alpha", AgentStatus.ONLINE, ("echo",), 1, (), {}, False, key)
    fat = attrs.evolve(beat, resources={"blob": "x" * 20_000})  # over 16 KiB of resources
    many = attrs.evolve(beat, capabilities=tuple(f"w{i}" for i in range(1001)))
    long_key = attrs.evolve(beat, agent_key="k" * 65)
    for message in (fat, many, long_key):
        await world.put_result(encode_message(message))
    huge = json.dumps({"protocol_version": "1.0", "pad": "x" * (4 * 1024 * 1024)}).encode()
    await world.put_result(huge)

    async def all_dead() -> bool:
        return len(await world.dead_letters()) >= 4

    await eventually(all_dead)
    assert orchestrator.handled == []
