"""The history checker's rule across tasks: never more than max_running tasks of one
concurrency key running at once, judged from the timelines' times.

A task runs from the entry that made it `running` to the one that moved it on, a half-open
span [start, end): two runs are at once when each starts before the other ends. So a run
that ends at the very time another starts is over by then (a slot is handed on in that
order), and a run that ended the instant it started (an instant handler on a virtual clock)
overlaps nothing. Runs are gathered a page at a time, so the rule holds across the pages of
an audit.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

import attrs

from chiffon.model import Task, TaskEvent, TaskStatus


@attrs.frozen
class Run:
    task_id: UUID
    max_running: int
    revision: int  # the entry it started with
    start: datetime
    end: datetime | None  # None: still running when read


class KeyedRuns:
    """The runs of keyed tasks, by key, gathered from histories as the checker reads them."""

    def __init__(self) -> None:
        self._by_key: dict[str, list[Run]] = {}

    def add(self, task: Task, events: Iterable[TaskEvent]) -> None:
        key, task_id, max_running = task.concurrency_key, task.task_id, task.concurrency_max_running
        if key is None:
            return
        runs = self._by_key.setdefault(key, [])
        started: tuple[int, datetime] | None = None
        for event in events:
            running = event.status is TaskStatus.RUNNING
            if running and started is None:
                started = (event.revision, event.at)
            elif not running and started is not None:
                if event.at > started[1]:  # [t, t) is empty: it overlaps no other run
                    runs.append(Run(task_id, max_running or 1, started[0], started[1], event.at))
                started = None
        if started is not None:
            runs.append(Run(task_id, max_running or 1, started[0], started[1], None))

    def overruns(self) -> list[tuple[str, Run, int]]:
        """(key, run, how many ran then) for each run that started while its key already
        had max_running runs going (itself included in the count)."""
        found = []
        for key, runs in sorted(self._by_key.items()):
            ends: list[tuple[int, datetime]] = []  # a heap of the running runs' ends
            for run in sorted(runs, key=lambda r: (r.start, r.task_id)):
                while ends and ends[0][0] == 1 and ends[0][1] <= run.start:
                    heapq.heappop(ends)
                heapq.heappush(ends, (1, run.end) if run.end is not None else (2, run.start))
                if len(ends) > run.max_running:
                    found.append((key, run, len(ends)))
        return found
