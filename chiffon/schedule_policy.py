"""The pure policy of one scheduler tick: which fire times run, which are skipped, and why."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Final

import attrs

from chiffon.schedules import CatchUp, Overlap, Schedule

# A fire time this late is missed, not merely late (a tick, a GC pause, a slow store).
MISFIRE_GRACE: Final = timedelta(seconds=60)
# At most this many past fire times are looked at in one tick; older ones are skipped.
MAX_DUE: Final = 1000


class SkipReason(enum.StrEnum):
    MISSED = "missed"  # passed while no replica could fire it (catch-up policy)
    OVERLAP = "overlap"  # the previous run had not finished (overlap policy)
    REFUSED = "refused"  # dispatch refused it (unknown work type, no live agent)


@attrs.frozen
class Tick:
    """What one tick decided: the times to dispatch (in order), the times skipped, whether the
    previous run is to be cancelled first, and the schedule as it is to be stored after."""

    fires: tuple[datetime, ...]
    skipped: tuple[tuple[datetime, SkipReason], ...]
    cancel_previous: bool
    schedule: Schedule


def plan_tick(schedule: Schedule, now: datetime, previous_running: bool) -> Tick:
    """Decide a tick at `now` for a schedule whose last run is (or is not) still running.

    Fire times up to `now` are chosen by the catch-up policy, then each goes through the
    overlap policy in order; a buffered fire goes first once the previous run has ended.
    Fires count towards max_runs; the stored schedule moves on to its next fire time. A
    paused schedule does not change (resume chooses its next time)."""
    if schedule.paused:
        return Tick((), (), False, schedule)
    due, next_at = _due_times(schedule, now)
    chosen, skipped = _catch_up(schedule, due, now)
    fires: list[datetime] = []
    buffered = schedule.buffered_at
    running = previous_running
    cancel = False
    if buffered is not None and not running:
        fires.append(buffered)
        buffered, running = None, True
    for at in chosen:
        if not running or schedule.overlap is Overlap.ALLOW_ALL:
            fires.append(at)
        elif schedule.overlap is Overlap.CANCEL_PREVIOUS:
            cancel = cancel or previous_running
            skipped.extend((f, SkipReason.OVERLAP) for f in fires)
            fires = [at]
        elif schedule.overlap is Overlap.BUFFER_ONE and buffered is None:
            buffered = at
        else:
            skipped.append((at, SkipReason.OVERLAP))
        running = True
    return _settle(schedule, now, fires, skipped, cancel, buffered, next_at)


def _due_times(schedule: Schedule, now: datetime) -> tuple[list[datetime], datetime | None]:
    """Fire times at or before `now` (at most MAX_DUE, within end_at), and the next one."""
    due: list[datetime] = []
    at = schedule.next_fire_at
    while at is not None and at <= now and len(due) < MAX_DUE:
        if schedule.end_at is not None and at > schedule.end_at:
            return due, None
        due.append(at)
        at = schedule.timing.next_after(at)
    if at is not None and at <= now:  # more than MAX_DUE behind: jump to the future
        at = schedule.timing.next_after(now)
    if at is not None and schedule.end_at is not None and at > schedule.end_at:
        at = None
    return due, at


def _catch_up(
    schedule: Schedule, due: list[datetime], now: datetime
) -> tuple[list[datetime], list[tuple[datetime, SkipReason]]]:
    if schedule.catch_up is CatchUp.RUN_ONCE:
        return due[-1:], [(at, SkipReason.MISSED) for at in due[:-1]]
    window = MISFIRE_GRACE
    if schedule.catch_up is CatchUp.RUN_ALL and schedule.catch_up_window_s is not None:
        window = max(window, timedelta(seconds=schedule.catch_up_window_s))
    kept = [at for at in due if now - at <= window]
    return kept, [(at, SkipReason.MISSED) for at in due if now - at > window]


def _settle(
    schedule: Schedule,
    now: datetime,
    fires: list[datetime],
    skipped: list[tuple[datetime, SkipReason]],
    cancel: bool,
    buffered: datetime | None,
    next_at: datetime | None,
) -> Tick:
    """Apply max_runs, and the schedule as stored after the tick."""
    if schedule.max_runs is not None:
        room = max(0, schedule.max_runs - schedule.runs)
        fires = fires[:room]
        if schedule.runs + len(fires) >= schedule.max_runs:
            next_at, buffered = None, None
    changed = bool(fires) or next_at != schedule.next_fire_at or buffered != schedule.buffered_at
    stored = attrs.evolve(
        schedule,
        next_fire_at=next_at,
        buffered_at=buffered,
        runs=schedule.runs + len(fires),
        last_fired_at=fires[-1] if fires else schedule.last_fired_at,
        updated_at=now if changed else schedule.updated_at,
    )
    return Tick(tuple(fires), tuple(skipped), cancel and bool(fires), stored)
