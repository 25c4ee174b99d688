"""Schedules: recurring work as a durable object (its timing, its work and its policies)."""

from __future__ import annotations

import enum
import math
from datetime import datetime, timedelta
from typing import Final
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from chiffon.commands import RetryRequest
from chiffon.concurrency import ConcurrencyLimit
from chiffon.cron import CronError, parse
from chiffon.model import PRIORITY_DEFAULT, JsonObject, NoAgentPolicy

MIN_INTERVAL_S: Final = 1.0
MAX_INTERVAL_S: Final = 366 * 86400.0
MAX_CATCH_UP_WINDOW_S: Final = 366 * 86400.0


class Overlap(enum.StrEnum):
    """What a fire does while the schedule's previous run has not finished."""

    SKIP = "skip"  # no new run (the default)
    BUFFER_ONE = "buffer_one"  # keep one fire, started when the previous run ends
    ALLOW_ALL = "allow_all"  # start it anyway
    CANCEL_PREVIOUS = "cancel_previous"  # cancel the previous run, start this one


class CatchUp(enum.StrEnum):
    """What the scheduler does with fire times that passed while no replica could fire them."""

    SKIP_MISSED = "skip_missed"  # skip them; resume at the next time (the default)
    RUN_ONCE = "run_once"  # one run for all of them (at the latest missed time)
    RUN_ALL = "run_all"  # each one missed within catch_up_window_s


@attrs.frozen
class Timing:
    """When a schedule fires: a cron expression read in `timezone`, or every `interval_s`
    seconds counted from `anchor` (the time the interval was set)."""

    cron: str | None
    timezone: str
    interval_s: float | None
    anchor: datetime

    def problems(self) -> dict[str, list[str]]:
        """What is wrong, by field ({} when valid)."""
        if (self.cron is None) == (self.interval_s is None):
            return {"cron": ["give cron (with timezone) or interval_s, exactly one"]}
        if self.interval_s is not None:
            if not math.isfinite(self.interval_s) or not (
                MIN_INTERVAL_S <= self.interval_s <= MAX_INTERVAL_S
            ):
                return {
                    "interval_s": [f"must be between {MIN_INTERVAL_S:g} and {MAX_INTERVAL_S:g}"]
                }
            return {}
        found: dict[str, list[str]] = {}
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            found["timezone"] = [f"{self.timezone!r} is not an IANA time zone (e.g. Europe/Paris)"]
        try:
            cron = parse(self.cron or "")
        except CronError as exc:
            found["cron"] = [str(exc)]
        else:
            if cron.next_after(self.anchor, ZoneInfo("UTC")) is None:
                found["cron"] = ["matches no date (e.g. 31 February)"]
        return found

    def next_after(self, after: datetime) -> datetime | None:
        """The first fire time strictly after `after`, in UTC (None: never again)."""
        if self.interval_s is not None:
            step = timedelta(seconds=self.interval_s)
            if after < self.anchor:
                return self.anchor + step
            return self.anchor + step * (math.floor((after - self.anchor) / step) + 1)
        return parse(self.cron or "").next_after(after, ZoneInfo(self.timezone))

    def upcoming(self, after: datetime, count: int) -> list[datetime]:
        found: list[datetime] = []
        at = self.next_after(after)
        while at is not None and len(found) < count:
            found.append(at)
            at = self.next_after(at)
        return found


@attrs.frozen
class ScheduledWork:
    """What each fire dispatches: the body of a dispatch, without its ids."""

    work_type: str
    parameters: JsonObject = attrs.Factory(dict)
    priority: int = PRIORITY_DEFAULT
    timeout_s: float | None = None
    retry: RetryRequest = attrs.Factory(RetryRequest)
    on_no_agent: NoAgentPolicy = NoAgentPolicy.QUEUE
    concurrency: ConcurrencyLimit | None = None  # e.g. never two backups of one database


@attrs.frozen
class Schedule:
    """A schedule as stored. `next_fire_at` is the next time to fire (None: it is over);
    `buffered_at`, a fire held by buffer_one; `last_task_id`, the task of its latest run.
    `revision` goes up by one on every stored change (a fire is claimed by moving it on)."""

    schedule_id: UUID
    timing: Timing
    work: ScheduledWork
    created_at: datetime
    updated_at: datetime
    next_fire_at: datetime | None
    overlap: Overlap = Overlap.SKIP
    catch_up: CatchUp = CatchUp.SKIP_MISSED
    catch_up_window_s: float | None = None
    paused: bool = False
    end_at: datetime | None = None
    max_runs: int | None = None
    note: str = ""
    runs: int = 0
    buffered_at: datetime | None = None
    last_task_id: UUID | None = None
    last_fired_at: datetime | None = None
    revision: int = 1

    @property
    def over(self) -> bool:
        """No fire will ever come again (end time passed or run count reached)."""
        return self.next_fire_at is None and self.buffered_at is None

    def first_fire_after(self, at: datetime) -> datetime | None:
        """The next fire time after `at`, within the end time and the run count."""
        if self.max_runs is not None and self.runs >= self.max_runs:
            return None
        nxt = self.timing.next_after(at)
        if nxt is None or (self.end_at is not None and nxt > self.end_at):
            return None
        return nxt

    def resumed(self, now: datetime) -> Schedule:
        """Unpaused, from its next time after `now`: the paused period is not caught up."""
        nxt = attrs.evolve(self, paused=False).first_fire_after(now)
        return attrs.evolve(self, paused=False, next_fire_at=nxt, updated_at=now)
