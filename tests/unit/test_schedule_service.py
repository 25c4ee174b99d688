"""Schedule use cases on the wired in-memory orchestrator and a manual clock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import uuid4

import attrs
import pytest

from chiffon.commands import RetryRequest
from chiffon.errors import InvalidRequest, ScheduleNotFound, UnknownWorkType
from chiffon.schedule_requests import ScheduleRequest
from chiffon.schedule_service import ScheduleService
from chiffon.scheduler import Scheduler
from chiffon.schedules import CatchUp, ScheduledWork
from tests.helpers import Stack


def schedules(stack: Stack) -> ScheduleService:
    assert stack.container is not None
    service: ScheduleService = stack.container.resolve(ScheduleService)
    return service


def request(**kw: Any) -> ScheduleRequest:
    work = ScheduledWork(work_type="echo", parameters={"text": "hi"})
    return attrs.evolve(ScheduleRequest(work=work, interval_s=60.0), **kw)


async def test_create_get_list_and_next_fire_times(stack: Stack) -> None:
    now = stack.clock.now()
    created = await schedules(stack).create(request(cron="0 9 * * mon-fri", interval_s=None))
    view = await schedules(stack).get(created.schedule_id)
    assert view.schedule == created
    assert [t.isoformat() for t in view.upcoming[:2]] == [
        "2026-01-01T09:00:00+00:00",  # 2026-01-01 is a Thursday
        "2026-01-02T09:00:00+00:00",
    ]
    assert len(view.upcoming) == 5 and view.last_runs == ()
    assert await schedules(stack).list() == [created]
    assert created.created_at == now


async def test_validation_names_every_failing_field(stack: Stack) -> None:
    bad = request(
        cron="61 * * * *",
        interval_s=None,
        timezone="Nowhere/Land",
        catch_up_window_s=10.0,
        max_runs=0,
        work=ScheduledWork(work_type="echo", priority=9, retry=RetryRequest(max_attempts=0)),
    )
    with pytest.raises(InvalidRequest) as caught:
        await schedules(stack).create(bad)
    assert set(caught.value.details) == {
        "cron",
        "timezone",
        "catch_up_window_s",
        "max_runs",
        "priority",
        "retry",
    }
    with pytest.raises(UnknownWorkType):
        await schedules(stack).create(request(work=ScheduledWork(work_type="nope")))
    assert await schedules(stack).list() == []


async def test_update_keeps_runs_and_recomputes_the_next_time(stack: Stack) -> None:
    created = await schedules(stack).create(request())
    stack.clock.advance(61)
    assert stack.wired.scheduler is not None
    await stack.wired.scheduler.tick()
    updated = await schedules(stack).update(
        created.schedule_id, request(interval_s=3600.0, catch_up=CatchUp.RUN_ONCE)
    )
    assert updated.runs == 1 and updated.catch_up is CatchUp.RUN_ONCE
    assert updated.next_fire_at == stack.clock.now() + timedelta(hours=1)


async def test_pause_resume_and_delete(stack: Stack) -> None:
    created = await schedules(stack).create(request())
    paused = await schedules(stack).pause(created.schedule_id)
    assert paused.paused and (await schedules(stack).get(created.schedule_id)).upcoming == ()
    stack.clock.advance(3600 + 30)
    assert stack.wired.scheduler is not None
    assert await stack.wired.scheduler.tick() == 0
    resumed = await schedules(stack).resume(created.schedule_id)
    assert not resumed.paused and resumed.next_fire_at == stack.clock.now() + timedelta(seconds=30)
    await schedules(stack).delete(created.schedule_id)
    with pytest.raises(ScheduleNotFound) as caught:
        await schedules(stack).get(created.schedule_id)
    assert caught.value.error_code == 2030
    with pytest.raises(ScheduleNotFound):
        await schedules(stack).delete(uuid4())


async def test_trigger_runs_now_and_becomes_the_latest_run(stack: Stack) -> None:
    created = await schedules(stack).create(request(paused=True))
    task = await schedules(stack).trigger(created.schedule_id)
    assert task.schedule_id == created.schedule_id
    assert task.scheduled_at == stack.clock.now()
    view = await schedules(stack).get(created.schedule_id)
    assert view.schedule.last_task_id == task.task_id
    assert [t.task_id for t in view.last_runs] == [task.task_id]
    assert isinstance(stack.wired.scheduler, Scheduler)
