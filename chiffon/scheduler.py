"""The scheduler loop: fires due schedules as normal tasks, each scheduled time once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from uuid import UUID, uuid5

import attrs

from chiffon.commands import DispatchCommand
from chiffon.errors import (
    ChiffonError,
    DependencyUnavailable,
    NotCancellable,
    TaskIdConflict,
    TaskNotFound,
)
from chiffon.events import ScheduleChange, ScheduleChanged
from chiffon.lifecycle import TERMINAL
from chiffon.model import Task
from chiffon.orchestrator import OrchestratorService
from chiffon.schedule_policy import SkipReason, plan_tick
from chiffon.schedules import Schedule
from ports.clock import Clock
from ports.notifier import Notifier
from ports.schedule_observer import ScheduleObserver
from ports.schedule_repository import ScheduleRepository
from ports.task_repository import TaskQueries

log = logging.getLogger(__name__)


def fire_ids(schedule_id: UUID, scheduled_at: datetime, kind: str = "fire") -> tuple[UUID, UUID]:
    """The task_id and request_id of one fire: the same on every replica and after a
    restart, so a fire dispatched twice (before its claim was stored) is one task."""
    key = f"{kind}:{scheduled_at.isoformat()}"
    return uuid5(schedule_id, f"task:{key}"), uuid5(schedule_id, f"request:{key}")


class Scheduler:
    """Each tick plans every due schedule (chiffon.schedule_policy), dispatches its fires
    with ids derived from (schedule, time), then claims the tick by saving the schedule on
    the revision it was planned from. Of replicas planning the same tick, one claim wins and
    their dispatches are one task each (ADR 0011)."""

    def __init__(
        self,
        schedules: ScheduleRepository,
        tasks: TaskQueries,
        service: OrchestratorService,
        clock: Clock,
        observer: ScheduleObserver,
        notifier: Notifier,
    ) -> None:
        self._notifier = notifier
        self._schedules = schedules
        self._tasks = tasks
        self._service = service
        self._clock = clock
        self._observer = observer

    async def tick(self) -> int:
        """Fire what is due now; returns how many tasks this replica's claims dispatched."""
        now = self._clock.now()
        fired = 0
        for schedule in await self._schedules.due(now):
            try:
                fired += await self._tick_one(schedule, now)
            except DependencyUnavailable:
                raise  # the next tick tries them all again
            except Exception:  # one broken schedule must not stop the others
                log.exception(
                    "schedule %s: tick failed",
                    schedule.schedule_id,
                    extra={"schedule_id": str(schedule.schedule_id)},
                )
        return fired

    async def _tick_one(self, schedule: Schedule, now: datetime) -> int:
        tick = plan_tick(schedule, now, await self.previous_running(schedule))
        if tick.cancel_previous and schedule.last_task_id is not None:
            await self._cancel(schedule.last_task_id)
        last_task = schedule.last_task_id
        dispatched: list[datetime] = []
        refused: list[datetime] = []
        for at in tick.fires:
            task_id = await self.fire(schedule, at)
            if task_id is None:
                refused.append(at)
            else:
                last_task = task_id
                dispatched.append(at)
        after = attrs.evolve(tick.schedule, last_task_id=last_task)
        saved = await self._schedules.save(after, schedule.revision)
        if saved is None:
            return 0  # another replica claimed this tick; our dispatches were its tasks
        said = ScheduleChange.FIRED if dispatched else ScheduleChange.SKIPPED
        await self._notifier.publish(ScheduleChanged(said, saved))
        work_type = schedule.work.work_type
        for at in dispatched:
            self._observer.fired(work_type, (self._clock.now() - at).total_seconds())
        for _, reason in tick.skipped:
            self._observer.skipped(work_type, reason.value)
        for _ in refused:
            self._observer.skipped(work_type, SkipReason.REFUSED.value)
        return len(dispatched)

    async def previous_running(self, schedule: Schedule) -> bool:
        if schedule.last_task_id is None:
            return False
        task = await self._tasks.get(schedule.last_task_id)
        return task is not None and task.status not in TERMINAL

    async def fire(self, schedule: Schedule, at: datetime, kind: str = "fire") -> UUID | None:
        """Dispatch the schedule's work for scheduled time `at`; its task id, or None when
        dispatch refused it (logged; a store or bus outage propagates, nothing claimed)."""
        task_id, request_id = fire_ids(schedule.schedule_id, at, kind)
        cmd = self._command(schedule, at, task_id, request_id)
        try:
            task, _created = await self._service.dispatch(cmd)
        except TaskIdConflict:
            return task_id  # fired before from an older version of the schedule
        except DependencyUnavailable:
            raise
        except ChiffonError as exc:
            log.warning(
                "schedule %s: fire at %s refused: %s",
                schedule.schedule_id,
                at.isoformat(),
                exc.message,
                extra={"schedule_id": str(schedule.schedule_id), "error_code": exc.error_code},
            )
            return None
        return task.task_id

    async def trigger(self, schedule: Schedule, now: datetime) -> Task:
        """Dispatch the schedule's work now, as a run outside its timing (`scheduled_at` is
        now); dispatch's errors propagate."""
        task_id, request_id = fire_ids(schedule.schedule_id, now, "trigger")
        task, _created = await self._service.dispatch(
            self._command(schedule, now, task_id, request_id)
        )
        return task

    @staticmethod
    def _command(
        schedule: Schedule, at: datetime, task_id: UUID, request_id: UUID
    ) -> DispatchCommand:
        work = schedule.work
        return DispatchCommand(
            task_id=task_id,
            request_id=request_id,
            work_type=work.work_type,
            parameters=work.parameters,
            priority=work.priority,
            timeout_s=work.timeout_s,
            retry=work.retry,
            on_no_agent=work.on_no_agent,
            concurrency=work.concurrency,
            schedule_id=schedule.schedule_id,
            scheduled_at=at,
        )

    async def _cancel(self, task_id: UUID) -> None:
        with contextlib.suppress(NotCancellable, TaskNotFound):  # it ended meanwhile
            await self._service.cancel(task_id)

    async def run(self, interval_s: float) -> None:
        """Tick every `interval_s` until cancelled; a failed tick is logged and retried."""
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("scheduler tick failed; retrying in %.1fs", interval_s)
            await asyncio.sleep(interval_s)
