"""What the in-memory store's tasks did over a span (TaskRepository.activity), by a scan."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime

from chiffon.model import Task, TaskStatus
from chiffon.stats import FINISHED, Activity, Span, percentile


def activity_of(tasks: Iterable[Task], span: Span) -> Activity:
    arrivals: Counter[tuple[str, int]] = Counter()
    departures: Counter[tuple[str, int]] = Counter()
    finished: Counter[tuple[TaskStatus, int]] = Counter()
    durations: defaultdict[int, list[float]] = defaultdict(list)
    pending: Counter[str] = Counter()
    for task in tasks:
        if task.status is TaskStatus.PENDING:
            pending[task.agent_type] += 1
        arrived = _index(span, task.created_at)
        if arrived is not None:
            arrivals[(task.agent_type, arrived)] += 1
        left = _index(span, task.started_at or task.finished_at)
        if left is not None:
            departures[(task.agent_type, left)] += 1
        ended = _index(span, task.finished_at)
        if ended is not None and task.status in FINISHED:
            finished[(task.status, ended)] += 1
            if task.duration_ms is not None:
                durations[ended].append(float(task.duration_ms))
    run_time = {
        i: (percentile(sorted(v), 0.5), percentile(sorted(v), 0.95)) for i, v in durations.items()
    }
    return Activity(dict(arrivals), dict(departures), dict(finished), run_time, dict(pending))


def _index(span: Span, at: datetime | None) -> int | None:
    if at is None or not span.start <= at < span.end:
        return None
    return int((at - span.start).total_seconds() // span.step_s)
