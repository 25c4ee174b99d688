"""Which refused reports this replica already recorded in a timeline, so a lost agent that
comes back with a stream of progress adds one entry per attempt and kind, not one per report
(each is still counted and logged)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Final
from uuid import UUID

from chiffon.attempt_holder import Report

MAX_REMEMBERED: Final = 10_000


class RecordedRefusals:
    def __init__(self, limit: int = MAX_REMEMBERED) -> None:
        self._seen: OrderedDict[tuple[UUID, Report], None] = OrderedDict()
        self._limit = limit

    def first(self, task_id: UUID, report: Report) -> bool:
        """True the first time (task, report) is seen (or after it was forgotten)."""
        key = (task_id, report)
        if key in self._seen:
            return False
        self._seen[key] = None
        if len(self._seen) > self._limit:
            self._seen.popitem(last=False)
        return True

    def forget(self, task_id: UUID, report: Report) -> None:
        """Not recorded after all (the write lost a race): record it when decided again."""
        self._seen.pop((task_id, report), None)
