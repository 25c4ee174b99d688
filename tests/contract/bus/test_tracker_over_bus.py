"""The real domain tracker behind the bus: at-least-once delivery, exactly-once effect."""

from __future__ import annotations

from uuid import uuid4

from adapters.memory.clock import ManualClock, SequentialIds
from adapters.memory.notifier import InMemoryNotifier
from adapters.memory.task_repository import InMemoryTaskRepository
from chiffon.changes import dispatched
from chiffon.credentials import ReplicaKey
from chiffon.events import Event, TaskChanged
from chiffon.model import AgentMessage, Task, TaskStatus
from chiffon.tracking import AgentMessageTracker
from composition_root import Settings, build_container
from ports.clock import Clock, IdFactory
from ports.notifier import Notifier
from ports.task_repository import TaskRepository
from tests.contract.bus.helpers import eventually, outbox, request, result, status
from tests.contract.bus.worlds import BusWorld
from tests.helpers import TEST_KEY


async def test_duplicated_and_redelivered_reports_apply_once(world: BusWorld) -> None:
    tasks, clock, notifier = InMemoryTaskRepository(), ManualClock(), InMemoryNotifier()
    overrides = {
        TaskRepository: tasks,
        Clock: clock,
        IdFactory: SequentialIds(),
        Notifier: notifier,
        ReplicaKey: TEST_KEY,
    }
    tracker = build_container(Settings(demo_agent=False), overrides).resolve(AgentMessageTracker)
    events: list[Event] = []
    notifier.subscribe(events.append)
    req = request()
    now = clock.now()
    pending = Task(
        req.task_id, req.request_id, req.trace_id, req.work_type, req.agent_type,
        req.priority, req.parameters, TaskStatus.PENDING, now, now,
    )  # fmt: skip
    await tasks.create(pending, dispatched(pending), [outbox(req)])
    handled: list[AgentMessage] = []

    async def handle(message: AgentMessage) -> None:
        await tracker.handle(message)
        handled.append(message)

    orchestrator = await world.work_bus()
    await orchestrator.consume_agent_messages(handle)
    agent_id = uuid4()
    agent = await world.agent_bus(agent_id)
    done = result(agent_id, req)
    for message in (status(agent_id, req.task_id, 0), status(agent_id, req.task_id, 50)):
        await agent.publish(message)
    await agent.publish(done)
    await agent.publish(done)

    await agent.publish(status(agent_id, req.task_id, 60))  # late: changes nothing

    async def all_handled() -> bool:
        return len(handled) == 5

    await eventually(all_handled)
    stored = await tasks.get(req.task_id)
    assert stored is not None
    assert (stored.status, stored.progress_percent) == (TaskStatus.COMPLETED, 100)
    statuses = [e.task.status for e in events if isinstance(e, TaskChanged)]
    assert statuses == [TaskStatus.RUNNING, TaskStatus.RUNNING, TaskStatus.COMPLETED]
