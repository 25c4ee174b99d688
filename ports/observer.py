"""Port: what the ledger tells observers (metrics) beyond the changes it announces."""

from __future__ import annotations

from typing import Protocol


class ChangeObserver(Protocol):
    def ignored(self, kind: str) -> None:
        """A change of this kind (started, progress, finished, ...) did not apply: stale,
        duplicate, late, or the task is final. Must not block or raise."""
        ...

    def refused(self, report: str) -> None:
        """An agent's report of this kind (started, progress, finished) came from an agent
        that does not hold the task's current attempt, and was refused. Must not block."""
        ...
