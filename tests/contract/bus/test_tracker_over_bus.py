"""The real domain tracker behind the bus: at-least-once delivery, exactly-once effect."""

from __future__ import annotations

from uuid import UUID, uuid4

import attrs

from adapters.memory.agent_registry import InMemoryAgentRegistry
from adapters.memory.clock import ManualClock, SequentialIds
from adapters.memory.notifier import InMemoryNotifier
from adapters.memory.task_repository import InMemoryTaskRepository
from chiffon.changes import dispatched
from chiffon.credentials import ReplicaKey
from chiffon.errors import DependencyUnavailable
from chiffon.events import Event, TaskChanged
from chiffon.model import AgentMessage, EventDraft, Task, TaskStatus
from chiffon.patch import ReportGuard, TaskPatch
from chiffon.tracking import AgentMessageTracker
from composition_root import Settings, build_container
from ports.agent_registry import AgentRegistry
from ports.clock import Clock, IdFactory
from ports.notifier import Notifier
from ports.task_repository import TaskRepository
from tests.contract.bus.helpers import eventually, outbox, request, result, status
from tests.contract.bus.worlds import BusWorld, MemoryWorld
from tests.helpers import TEST_KEY
from tests.history import assert_history_clean


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


class _FailsOneMergedWrite(InMemoryTaskRepository):
    """The store is unreachable for the first write of two reports together."""

    failed = 0

    async def apply_report(
        self,
        task_id: UUID,
        guard: ReportGuard,
        patch: TaskPatch,
        event: EventDraft,
        then: EventDraft | None = None,
    ) -> Task | None:
        if then is not None and not self.failed:
            self.failed += 1
            raise DependencyUnavailable("the store did not answer")
        return await super().apply_report(task_id, guard, patch, event, then)


async def _tracked(
    world: BusWorld, tasks: InMemoryTaskRepository | None = None
) -> tuple[
    AgentMessageTracker, InMemoryTaskRepository, ManualClock, list[Event], Task, list[AgentMessage]
]:
    """A tracker behind the world's bus, one pending task, and what it announced and handled."""
    tasks = tasks or InMemoryTaskRepository()
    clock, notifier = ManualClock(), InMemoryNotifier()
    overrides = {
        TaskRepository: tasks,
        Clock: clock,
        IdFactory: SequentialIds(),
        Notifier: notifier,
        ReplicaKey: TEST_KEY,
        AgentRegistry: InMemoryAgentRegistry(),
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

    await (await world.work_bus()).consume_agent_messages(handle)
    return tracker, tasks, clock, events, pending, handled


async def test_running_and_result_together_are_one_write_with_both_entries(
    world: BusWorld,
) -> None:
    _, tasks, clock, events, pending, handled = await _tracked(world)
    agent_id = uuid4()
    agent = await world.agent_bus(agent_id)
    req = attrs.evolve(request(), task_id=pending.task_id)
    await agent.publish(status(agent_id, pending.task_id, 0))
    await agent.publish(result(agent_id, req))

    async def both_handled() -> bool:
        return len(handled) == 2

    await eventually(both_handled)
    stored = await tasks.get(pending.task_id)
    assert stored is not None
    assert stored.status is TaskStatus.COMPLETED
    assert stored.started_at is not None and stored.agent_id == agent_id
    timeline = await tasks.events(pending.task_id)
    assert [(e.revision, e.kind, e.status) for e in timeline] == [
        (1, "dispatched", TaskStatus.PENDING),
        (2, "started", TaskStatus.RUNNING),
        (3, "finished", TaskStatus.COMPLETED),
    ]
    assert stored.revision == 3
    changed = [e for e in events if isinstance(e, TaskChanged)]
    if isinstance(world, MemoryWorld):  # delivered in one turn; over AMQP they may come apart
        assert [(e.change, e.task.revision, e.started) for e in changed] == [("finished", 3, True)]
    else:
        assert changed[-1].task.status is TaskStatus.COMPLETED
    await assert_history_clean(tasks, InMemoryAgentRegistry(), clock, 2.0)


async def test_a_progress_between_running_and_result_keeps_the_order(world: BusWorld) -> None:
    _, tasks, _, events, pending, handled = await _tracked(world)
    agent_id = uuid4()
    agent = await world.agent_bus(agent_id)
    req = attrs.evolve(request(), task_id=pending.task_id)
    for message in (status(agent_id, pending.task_id, 0), status(agent_id, pending.task_id, 40)):
        await agent.publish(message)
    await agent.publish(result(agent_id, req))

    async def all_handled() -> bool:
        return len(handled) == 3

    await eventually(all_handled)
    timeline = await tasks.events(pending.task_id)
    assert [e.kind for e in timeline] == ["dispatched", "started", "progress", "finished"]
    changed = [e.change for e in events if isinstance(e, TaskChanged)]
    assert changed == ["started", "progress", "finished"]


async def test_a_failed_write_of_both_reports_redelivers_both(world: BusWorld) -> None:
    """Neither message is acked before the one write of both is stored: when it fails, both
    come again and the task still ends with both entries in its timeline."""
    store = _FailsOneMergedWrite()
    _, tasks, clock, _, pending, handled = await _tracked(world, store)
    agent_id = uuid4()
    agent = await world.agent_bus(agent_id)
    req = attrs.evolve(request(), task_id=pending.task_id)
    await agent.publish(status(agent_id, pending.task_id, 0))
    await agent.publish(result(agent_id, req))

    async def both_handled() -> bool:
        return len(handled) == 2

    await eventually(both_handled)
    stored = await tasks.get(pending.task_id)
    assert stored is not None and stored.status is TaskStatus.COMPLETED
    timeline = await tasks.events(pending.task_id)
    assert [e.kind for e in timeline] == ["dispatched", "started", "finished"]
    if isinstance(world, MemoryWorld):  # together in one turn here, so the failure happened
        assert store.failed == 1
    await assert_history_clean(tasks, InMemoryAgentRegistry(), clock, 2.0)
