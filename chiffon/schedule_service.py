"""Use cases of schedules: create, read, list, update, pause, resume, delete, trigger now."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from uuid import UUID

import attrs

from chiffon.errors import ScheduleBusy, ScheduleNotFound, TooManySchedules, UnknownWorkType
from chiffon.events import ScheduleChange, ScheduleChanged
from chiffon.model import Task
from chiffon.orchestrator import OrchestratorService
from chiffon.schedule_requests import ScheduleRequest
from chiffon.scheduler import Scheduler
from chiffon.schedules import Schedule
from ports.clock import Clock, IdFactory
from ports.notifier import Notifier
from ports.schedule_repository import ScheduleRepository
from ports.task_repository import TaskFilter

MAX_SCHEDULES = 1000  # one list (GET /api/v1/schedules, the WebSocket snapshot) holds them all
SAVE_ATTEMPTS = 5  # a conditional save lost to the scheduler's tick is retried on a new read


@attrs.frozen
class ScheduleView:
    """A schedule with its next fire times and its latest runs (newest first)."""

    schedule: Schedule
    upcoming: tuple[datetime, ...]
    last_runs: tuple[Task, ...]


class ScheduleService:
    """The caller-facing schedule use cases. Every change is a conditional save, so an edit
    and a scheduler tick never overwrite each other, and is announced once stored
    (`schedule.updated` on the WebSocket topic `schedules`)."""

    def __init__(
        self,
        schedules: ScheduleRepository,
        service: OrchestratorService,
        scheduler: Scheduler,
        clock: Clock,
        ids: IdFactory,
        notifier: Notifier,
    ) -> None:
        self._notifier = notifier
        self._schedules = schedules
        self._service = service
        self._scheduler = scheduler
        self._clock = clock
        self._ids = ids

    async def create(self, request: ScheduleRequest) -> Schedule:
        """Validate and store a new schedule; raises InvalidRequest / UnknownWorkType."""
        now = self._clock.now()
        await self._check(request)
        if len(await self._schedules.list_all(MAX_SCHEDULES)) >= MAX_SCHEDULES:
            raise TooManySchedules(
                f"there are {MAX_SCHEDULES} schedules already, the most chiffon keeps: "
                "delete one first",
                {"max_schedules": MAX_SCHEDULES},
            )
        schedule = request.build(self._ids.new_id(), now)
        await self._schedules.create(schedule)
        await self._notifier.publish(ScheduleChanged(ScheduleChange.CREATED, schedule))
        return schedule

    async def get(self, schedule_id: UUID, upcoming: int = 5, last_runs: int = 5) -> ScheduleView:
        schedule = await self._get(schedule_id)
        times: list[datetime] = []
        if not schedule.paused and schedule.next_fire_at is not None:
            times = [schedule.next_fire_at]
            for at in schedule.timing.upcoming(schedule.next_fire_at, upcoming - 1):
                if schedule.end_at is not None and at > schedule.end_at:
                    break
                times.append(at)
        runs = await self._service.list_tasks(TaskFilter(schedule_id=schedule_id), last_runs, None)
        return ScheduleView(schedule, tuple(times), runs.items)

    async def list(self) -> list[Schedule]:
        return await self._schedules.list_all(MAX_SCHEDULES)

    async def update(self, schedule_id: UUID, request: ScheduleRequest) -> Schedule:
        """Replace the schedule's settings (its runs are kept); raises as create, and
        ScheduleNotFound."""
        await self._check(request)
        return await self._change(
            schedule_id, lambda s: request.apply_to(s, self._clock.now()), ScheduleChange.UPDATED
        )

    async def pause(self, schedule_id: UUID) -> Schedule:
        return await self._change(
            schedule_id,
            lambda s: attrs.evolve(s, paused=True, updated_at=self._clock.now()),
            ScheduleChange.PAUSED,
        )

    async def resume(self, schedule_id: UUID) -> Schedule:
        """Unpause; it fires next at its first time after now (no catch-up of the pause)."""
        return await self._change(
            schedule_id,
            lambda s: s.resumed(self._clock.now()) if s.paused else s,
            ScheduleChange.RESUMED,
        )

    async def delete(self, schedule_id: UUID) -> None:
        schedule = await self._schedules.get(schedule_id)
        if schedule is None or not await self._schedules.delete(schedule_id):
            raise ScheduleNotFound(
                f"schedule {schedule_id} not found", {"schedule_id": str(schedule_id)}
            )
        gone = attrs.evolve(schedule, revision=schedule.revision + 1, updated_at=self._clock.now())
        await self._notifier.publish(ScheduleChanged(ScheduleChange.DELETED, gone))

    async def trigger(self, schedule_id: UUID) -> Task:
        """Dispatch the schedule's work now, whatever its policies (paused included); the
        task becomes its latest run. Raises ScheduleNotFound, or what dispatch raises."""
        schedule = await self._get(schedule_id)
        task = await self._scheduler.trigger(schedule, self._clock.now())
        await self._change(
            schedule_id,
            lambda s: attrs.evolve(s, last_task_id=task.task_id),
            ScheduleChange.TRIGGERED,
        )
        return task

    async def _check(self, request: ScheduleRequest) -> None:
        request.validate(self._clock.now())
        known = {r.work_type for r in await self._service.work_types()}
        if request.work.work_type not in known:
            raise UnknownWorkType(
                f"no agent type serves work_type {request.work.work_type!r}",
                {"work_type": [f"unknown; known: {', '.join(sorted(known))}"]},
            )

    async def _get(self, schedule_id: UUID) -> Schedule:
        schedule = await self._schedules.get(schedule_id)
        if schedule is None:
            raise ScheduleNotFound(
                f"schedule {schedule_id} not found", {"schedule_id": str(schedule_id)}
            )
        return schedule

    async def _change(
        self, schedule_id: UUID, change: Callable[[Schedule], Schedule], said: ScheduleChange
    ) -> Schedule:
        for _ in range(SAVE_ATTEMPTS):
            current = await self._get(schedule_id)
            saved = await self._schedules.save(change(current), current.revision)
            if saved is not None:
                await self._notifier.publish(ScheduleChanged(said, saved))
                return saved
        raise ScheduleBusy(
            f"schedule {schedule_id} kept changing; try again", {"schedule_id": str(schedule_id)}
        )
