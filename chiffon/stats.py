"""Throughput, failures, queue depth and run time over time, from the stored tasks."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

import attrs

from chiffon.errors import InvalidRequest
from chiffon.model import TaskStatus

MAX_WINDOW_S: Final = 7 * 86_400
MAX_INTERVALS: Final = 500
FINISHED: Final = (
    TaskStatus.COMPLETED,
    TaskStatus.FAILED,
    TaskStatus.TIMED_OUT,
    TaskStatus.CANCELLED,
)


@attrs.frozen
class Span:
    """`intervals` consecutive intervals of `step_s` seconds from `start` (UTC)."""

    start: datetime
    step_s: int
    intervals: int

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.step_s * self.intervals)

    def starts(self) -> list[datetime]:
        return [self.start + timedelta(seconds=self.step_s * i) for i in range(self.intervals)]

    @classmethod
    def ending_at(cls, now: datetime, window_s: int, step_s: int) -> Span:
        """The window up to `now`, its intervals aligned on multiples of `step_s` since the
        epoch (so a chart refreshed a few seconds later shows the same intervals); the last
        one is still filling. Raises InvalidRequest beyond the documented limits."""
        problems = {}
        if not 1 <= step_s <= 86_400:
            problems["step"] = ["must be 1 second .. 1 day"]
        if not 1 <= window_s <= MAX_WINDOW_S:
            problems["window"] = [f"must be 1 second .. {MAX_WINDOW_S // 86_400} days"]
        elif step_s >= 1 and math.ceil(window_s / step_s) > MAX_INTERVALS:
            problems["step"] = [f"window / step must be at most {MAX_INTERVALS} intervals"]
        if problems:
            raise InvalidRequest(f"invalid request: {', '.join(sorted(problems))}", problems)
        end_s = math.floor(now.timestamp() / step_s) * step_s + step_s
        intervals = math.ceil(window_s / step_s)
        start = datetime.fromtimestamp(end_s - intervals * step_s, UTC)
        return cls(start, step_s, intervals)


@attrs.frozen
class Activity:
    """What a store counts over a span, by interval index (0 .. intervals - 1).

    `arrivals` / `departures`: tasks that joined / left the queue (created; first started, or
    finished without starting) per (agent_type, interval); `finished`: per (status, interval);
    `run_time_ms`: the (p50, p95) of `duration_ms` of tasks finished in an interval (continuous
    percentiles); `pending_now`: pending tasks per agent type at the time of the read."""

    arrivals: Mapping[tuple[str, int], int]
    departures: Mapping[tuple[str, int], int]
    finished: Mapping[tuple[TaskStatus, int], int]
    run_time_ms: Mapping[int, tuple[float, float]]
    pending_now: Mapping[str, int]


@attrs.frozen
class Interval:
    start: datetime
    dispatched: int
    completed: int
    failed: int
    timed_out: int
    cancelled: int
    p50_ms: float | None
    p95_ms: float | None


@attrs.frozen
class Stats:
    span: Span
    intervals: tuple[Interval, ...]
    queue_depth: Mapping[str, tuple[int, ...]]  # agent_type -> pending at each interval's end
    pending_now: Mapping[str, int]


def build_stats(span: Span, activity: Activity) -> Stats:
    intervals = tuple(
        Interval(
            start=start,
            dispatched=sum(n for (_, i), n in activity.arrivals.items() if i == index),
            completed=activity.finished.get((TaskStatus.COMPLETED, index), 0),
            failed=activity.finished.get((TaskStatus.FAILED, index), 0),
            timed_out=activity.finished.get((TaskStatus.TIMED_OUT, index), 0),
            cancelled=activity.finished.get((TaskStatus.CANCELLED, index), 0),
            p50_ms=activity.run_time_ms.get(index, (None, None))[0],
            p95_ms=activity.run_time_ms.get(index, (None, None))[1],
        )
        for index, start in enumerate(span.starts())
    )
    return Stats(span, intervals, queue_depth(span, activity), dict(activity.pending_now))


def queue_depth(span: Span, activity: Activity) -> dict[str, tuple[int, ...]]:
    """Pending tasks per agent type at each interval's end, walked back from now: before an
    interval there were its departures more and its arrivals fewer. A task that went back to
    pending for another attempt counts from its first start only (never below 0)."""
    types = {t for t, _ in activity.arrivals} | {t for t, _ in activity.departures}
    depth: dict[str, tuple[int, ...]] = {}
    for agent_type in sorted(types | set(activity.pending_now)):
        level = activity.pending_now.get(agent_type, 0)
        levels = [0] * span.intervals
        for index in range(span.intervals - 1, -1, -1):
            levels[index] = max(0, level)
            level += activity.departures.get((agent_type, index), 0)
            level -= activity.arrivals.get((agent_type, index), 0)
        depth[agent_type] = tuple(levels)
    return depth


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Linear interpolation between the closest ranks, as PostgreSQL's percentile_cont."""
    position = fraction * (len(sorted_values) - 1)
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)
