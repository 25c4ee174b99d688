"""The scheduler on the wired in-memory orchestrator and a manual clock: fires become normal
tasks, each scheduled time once across replicas and a crash between dispatch and claim."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import attrs

from adapters.http.metrics.registry import ChiffonMetrics
from chiffon.events import ScheduleChange, ScheduleChanged
from chiffon.model import TaskStatus
from chiffon.scheduler import Scheduler
from chiffon.schedules import Overlap, Schedule, ScheduledWork, Timing
from ports.notifier import Notifier
from ports.schedule_repository import ScheduleRepository
from ports.task_repository import TaskFilter
from tests.helpers import Stack, eventually


async def every_minute(stack: Stack, work_type: str = "echo", **kw: object) -> Schedule:
    now = stack.clock.now()
    schedule = Schedule(
        schedule_id=uuid4(),
        timing=Timing(cron=None, timezone="UTC", interval_s=60.0, anchor=now),
        work=ScheduledWork(work_type=work_type, parameters={"text": "tick"}, priority=4),
        created_at=now,
        updated_at=now,
        next_fire_at=None,
    )
    schedule = attrs.evolve(schedule, **kw)  # type: ignore[arg-type]
    schedule = attrs.evolve(schedule, next_fire_at=schedule.timing.next_after(now))
    assert await repo(stack).create(schedule)
    return schedule


def repo(stack: Stack) -> ScheduleRepository:
    assert stack.container is not None
    store: ScheduleRepository = stack.container.resolve(ScheduleRepository)
    return store


def scheduler(stack: Stack) -> Scheduler:
    assert stack.wired.scheduler is not None
    return stack.wired.scheduler


def metric(stack: Stack, name: str, **labels: str) -> float:
    assert stack.container is not None
    metrics: ChiffonMetrics = stack.container.resolve(ChiffonMetrics)
    return metrics.registry.get_sample_value(name, labels) or 0.0


async def fired_tasks(stack: Stack, schedule: Schedule) -> list[tuple[TaskStatus, str]]:
    page = await stack.service.list_tasks(TaskFilter(schedule_id=schedule.schedule_id), 100, None)
    return [(t.status, t.scheduled_at.isoformat() if t.scheduled_at else "") for t in page.items]


async def test_a_due_fire_dispatches_a_task_that_names_its_schedule(stack: Stack) -> None:
    schedule = await every_minute(stack)
    assert await scheduler(stack).tick() == 0  # not due yet
    stack.clock.advance(61)
    assert await scheduler(stack).tick() == 1
    page = await stack.service.list_tasks(TaskFilter(schedule_id=schedule.schedule_id), 10, None)
    (task,) = page.items
    assert task.schedule_id == schedule.schedule_id
    assert task.scheduled_at == schedule.next_fire_at
    assert (task.work_type, task.parameters, task.priority) == ("echo", {"text": "tick"}, 4)
    stored = await repo(stack).get(schedule.schedule_id)
    assert stored is not None
    assert (stored.runs, stored.last_task_id, stored.revision) == (1, task.task_id, 2)
    assert metric(stack, "chiffon_schedule_fires_total", work_type="echo") == 1
    assert metric(stack, "chiffon_schedule_lag_seconds_sum", work_type="echo") == 1.0


async def test_overlap_skip_waits_for_the_previous_run(stack: Stack) -> None:
    schedule = await every_minute(stack)
    stack.clock.advance(60)
    await scheduler(stack).tick()
    stack.clock.advance(60)
    assert await scheduler(stack).tick() == 0  # the first is still pending: no agent
    assert metric(stack, "chiffon_schedule_skipped_total", work_type="echo", reason="overlap") == 1
    (first,) = (await stack.service.list_tasks(TaskFilter(), 10, None)).items
    await stack.service.cancel(first.task_id)
    stack.clock.advance(60)
    assert await scheduler(stack).tick() == 1
    assert len(await fired_tasks(stack, schedule)) == 2


async def test_cancel_previous_cancels_the_running_task(stack: Stack) -> None:
    schedule = await every_minute(stack, overlap=Overlap.CANCEL_PREVIOUS)
    stack.clock.advance(60)
    await scheduler(stack).tick()
    stack.clock.advance(60)
    assert await scheduler(stack).tick() == 1
    statuses = sorted(s for s, _ in await fired_tasks(stack, schedule))
    assert statuses == sorted([TaskStatus.CANCELLED, TaskStatus.PENDING])


async def test_replicas_ticking_together_fire_each_time_once(stack: Stack) -> None:
    schedule = await every_minute(stack, overlap=Overlap.ALLOW_ALL)
    assert stack.container is not None
    replicas = [stack.container.resolve(Scheduler)] + [
        Scheduler(
            repo(stack),
            stack.wired.tasks,
            stack.service,
            stack.clock,
            scheduler(stack)._observer,
            stack.container.resolve(Notifier),
        )
        for _ in range(3)
    ]
    for n in range(1, 4):
        stack.clock.advance(60)
        counts = await asyncio.gather(*(r.tick() for r in replicas))
        assert sum(counts) == 1
        fired = [e for e in stack.events if isinstance(e, ScheduleChanged)]
        assert [e.change for e in fired] == [ScheduleChange.FIRED] * n  # announced once
    assert len(await fired_tasks(stack, schedule)) == 3
    assert metric(stack, "chiffon_schedule_fires_total", work_type="echo") == 3


async def test_a_fire_dispatched_but_not_claimed_is_not_dispatched_again(stack: Stack) -> None:
    schedule = await every_minute(stack)
    stack.clock.advance(60)
    assert schedule.next_fire_at is not None
    # A replica dispatched the fire and died before storing its claim.
    await scheduler(stack).fire(schedule, schedule.next_fire_at)
    assert await scheduler(stack).tick() == 1  # it claims the same task
    assert len(await fired_tasks(stack, schedule)) == 1
    stored = await repo(stack).get(schedule.schedule_id)
    assert stored is not None and stored.runs == 1


async def test_a_refused_fire_is_counted_and_the_schedule_moves_on(stack: Stack) -> None:
    schedule = await every_minute(stack, work_type="no_such_work")
    stack.clock.advance(60)
    assert await scheduler(stack).tick() == 0
    assert (
        metric(stack, "chiffon_schedule_skipped_total", work_type="no_such_work", reason="refused")
        == 1
    )
    stored = await repo(stack).get(schedule.schedule_id)
    assert stored is not None and stored.next_fire_at == schedule.timing.next_after(
        stack.clock.now()
    )


async def test_the_loop_fires_on_its_own(stack: Stack) -> None:
    schedule = await every_minute(stack)
    stack.clock.advance(60)
    loop = asyncio.create_task(scheduler(stack).run(0.01))
    try:
        await eventually(lambda: fired_tasks(stack, schedule), bool)
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
    assert len(await fired_tasks(stack, schedule)) == 1
