"""Contract of ScheduleRepository over the in-memory twin and PostgreSQL: round trips, due
order, and the conditional save that claims each fire exactly once."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import uuid4

import attrs

from chiffon.changes import dispatched
from chiffon.commands import RetryRequest
from chiffon.model import NoAgentPolicy, RetryOn
from chiffon.schedule_policy import plan_tick
from chiffon.schedules import CatchUp, Overlap, Schedule, ScheduledWork, Timing
from ports.schedule_repository import ScheduleRepository
from ports.task_repository import TaskFilter, TaskRepository
from tests.contract.store.builders import at, make_task


def make_schedule(next_s: float | None = 60, **overrides: Any) -> Schedule:
    schedule = Schedule(
        schedule_id=uuid4(),
        timing=Timing(cron=None, timezone="UTC", interval_s=60.0, anchor=at(0)),
        work=ScheduledWork(
            work_type="echo",
            parameters={"text": "hi", "n": [1, 2.5, None]},
            priority=4,
            timeout_s=30.0,
            retry=RetryRequest(max_attempts=2, backoff_s=1.5, on=(RetryOn.LOST, RetryOn.FAILED)),
            on_no_agent=NoAgentPolicy.REJECT,
        ),
        created_at=at(0),
        updated_at=at(0),
        next_fire_at=None if next_s is None else at(next_s),
    )
    return attrs.evolve(schedule, **overrides)


async def test_create_round_trips_every_field(schedules: ScheduleRepository) -> None:
    schedule = make_schedule(
        timing=Timing(cron="30 2 * * 1-5", timezone="Europe/Paris", interval_s=None, anchor=at(0)),
        overlap=Overlap.BUFFER_ONE,
        catch_up=CatchUp.RUN_ALL,
        catch_up_window_s=3600.0,
        end_at=at(86400),
        max_runs=10,
        note="nightly backup of db-1",
        runs=3,
        buffered_at=at(30),
        last_task_id=uuid4(),
        last_fired_at=at(0),
    )
    assert await schedules.create(schedule)
    assert await schedules.get(schedule.schedule_id) == schedule
    assert await schedules.list_all() == [schedule]


async def test_create_of_a_used_id_stores_nothing(schedules: ScheduleRepository) -> None:
    schedule = make_schedule()
    assert await schedules.create(schedule)
    assert not await schedules.create(attrs.evolve(schedule, note="other"))
    assert await schedules.get(schedule.schedule_id) == schedule


async def test_returns_copies(schedules: ScheduleRepository) -> None:
    schedule = make_schedule()
    await schedules.create(schedule)
    fetched = await schedules.get(schedule.schedule_id)
    assert fetched is not None
    fetched.work.parameters["text"] = "changed"
    assert await schedules.get(schedule.schedule_id) == schedule


async def test_due_holds_the_unpaused_past_and_the_buffered(
    schedules: ScheduleRepository,
) -> None:
    late = make_schedule(30)
    later = make_schedule(50)
    future = make_schedule(500)
    paused = make_schedule(10, paused=True)
    buffered = make_schedule(500, buffered_at=at(40))
    over = make_schedule(None)
    for s in (future, buffered, later, paused, over, late):
        await schedules.create(s)
    due = await schedules.due(at(100))
    assert [s.schedule_id for s in due] == [
        late.schedule_id,
        later.schedule_id,
        buffered.schedule_id,
    ]
    assert [s.schedule_id for s in await schedules.due(at(100), limit=1)] == [late.schedule_id]


async def test_save_is_conditional_on_the_revision(schedules: ScheduleRepository) -> None:
    schedule = make_schedule()
    await schedules.create(schedule)
    moved = attrs.evolve(schedule, next_fire_at=at(120), runs=1)
    stored = await schedules.save(moved, expected_revision=1)
    assert stored == attrs.evolve(moved, revision=2)
    assert await schedules.save(attrs.evolve(moved, runs=9), expected_revision=1) is None
    assert await schedules.get(schedule.schedule_id) == stored
    assert await schedules.save(make_schedule(), expected_revision=1) is None  # unknown id


async def test_two_replicas_planning_the_same_tick_claim_it_once(
    schedules: ScheduleRepository,
) -> None:
    schedule = make_schedule(60, overlap=Overlap.ALLOW_ALL)
    await schedules.create(schedule)

    async def replica() -> tuple[Any, ...]:
        seen = await schedules.get(schedule.schedule_id)
        assert seen is not None
        tick = plan_tick(seen, at(61), previous_running=False)
        claimed = await schedules.save(tick.schedule, seen.revision)
        return tick.fires if claimed else ()

    results = await asyncio.gather(*(replica() for _ in range(8)))
    assert sorted(results, key=len)[-1] == (at(60),)
    assert sum(len(r) for r in results) == 1
    stored = await schedules.get(schedule.schedule_id)
    assert stored is not None and stored.runs == 1 and stored.next_fire_at == at(120)


async def test_delete(schedules: ScheduleRepository) -> None:
    schedule = make_schedule()
    await schedules.create(schedule)
    assert await schedules.delete(schedule.schedule_id)
    assert not await schedules.delete(schedule.schedule_id)
    assert await schedules.get(schedule.schedule_id) is None


async def test_tasks_keep_their_schedule_and_filter_by_it(repo: TaskRepository) -> None:
    schedule_id = uuid4()
    fired = make_task(1, schedule_id=schedule_id, scheduled_at=at(0))
    other = make_task(2)
    for task in (fired, other):
        await repo.create(task, dispatched(task), [])
    assert await repo.get(fired.task_id) == fired
    page = await repo.page(TaskFilter(schedule_id=schedule_id), 10, None)
    assert [t.task_id for t in page.items] == [fired.task_id]
