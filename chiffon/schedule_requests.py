"""What a caller asks for a schedule (the flat body), validated by the domain's rules."""

from __future__ import annotations

from datetime import datetime
from typing import Final
from uuid import UUID

import attrs

from chiffon.commands import DispatchCommand
from chiffon.errors import InvalidRequest
from chiffon.schedules import (
    MAX_CATCH_UP_WINDOW_S,
    CatchUp,
    Overlap,
    Schedule,
    ScheduledWork,
    Timing,
)

MAX_NOTE_CHARS: Final = 1000
MAX_RUNS_LIMIT: Final = 10**9


@attrs.frozen
class ScheduleRequest:
    work: ScheduledWork
    cron: str | None = None
    timezone: str = "UTC"
    interval_s: float | None = None
    overlap: Overlap = Overlap.SKIP
    catch_up: CatchUp = CatchUp.SKIP_MISSED
    catch_up_window_s: float | None = None
    paused: bool = False
    end_at: datetime | None = None
    max_runs: int | None = None
    note: str = ""

    def timing(self, anchor: datetime) -> Timing:
        return Timing(self.cron, self.timezone, self.interval_s, anchor)

    def validate(self, now: datetime) -> None:
        """Raise InvalidRequest (or PayloadTooLarge) naming every failing field."""
        problems = self.timing(now).problems()
        problems.update(self._policy_problems(now))
        try:
            self._as_dispatch().validate(now)
        except InvalidRequest as exc:
            problems.update(exc.details or {})
        if problems:
            raise InvalidRequest(f"invalid schedule: {', '.join(sorted(problems))}", problems)

    def build(self, schedule_id: UUID, now: datetime) -> Schedule:
        """A new schedule from this request, its first fire time after `now`."""
        schedule = Schedule(
            schedule_id=schedule_id,
            timing=self.timing(now),
            work=self.work,
            created_at=now,
            updated_at=now,
            next_fire_at=None,
        )
        return self.apply_to(schedule, now)

    def apply_to(self, schedule: Schedule, now: datetime) -> Schedule:
        """`schedule` with this request's settings; its runs and last task are kept, its next
        fire time is chosen again from `now` (a new timing counts from now)."""
        timing = self.timing(now)
        if (timing.cron, timing.timezone, timing.interval_s) == (
            schedule.timing.cron,
            schedule.timing.timezone,
            schedule.timing.interval_s,
        ):
            timing = schedule.timing
        changed = attrs.evolve(
            schedule,
            timing=timing,
            work=self.work,
            overlap=self.overlap,
            catch_up=self.catch_up,
            catch_up_window_s=self.catch_up_window_s,
            paused=self.paused,
            end_at=self.end_at,
            max_runs=self.max_runs,
            note=self.note,
            updated_at=now,
        )
        return attrs.evolve(changed, next_fire_at=changed.first_fire_after(now))

    def _policy_problems(self, now: datetime) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        window = self.catch_up_window_s
        if (window is not None) != (self.catch_up is CatchUp.RUN_ALL):
            found["catch_up_window_s"] = ["give it with catch_up run_all, and only then"]
        elif window is not None and not 0 < window <= MAX_CATCH_UP_WINDOW_S:
            found["catch_up_window_s"] = [f"must be above 0, at most {MAX_CATCH_UP_WINDOW_S:g}"]
        if self.end_at is not None and (self.end_at.tzinfo is None or self.end_at <= now):
            found["end_at"] = ["must carry a UTC offset and be in the future"]
        if self.max_runs is not None and not 1 <= self.max_runs <= MAX_RUNS_LIMIT:
            found["max_runs"] = [f"must be between 1 and {MAX_RUNS_LIMIT}"]
        if len(self.note) > MAX_NOTE_CHARS:
            found["note"] = [f"at most {MAX_NOTE_CHARS} characters"]
        return found

    def _as_dispatch(self) -> DispatchCommand:
        w = self.work
        return DispatchCommand(
            task_id=UUID(int=0),
            work_type=w.work_type,
            parameters=w.parameters,
            priority=w.priority,
            timeout_s=w.timeout_s,
            retry=w.retry,
            on_no_agent=w.on_no_agent,
            concurrency=w.concurrency,
        )
