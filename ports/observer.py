"""Port: what the ledger and the report gate tell observers (metrics) beyond the changes
they announce."""

from __future__ import annotations

from typing import Protocol


class ChangeObserver(Protocol):
    def ignored(self, kind: str) -> None:
        """A change of this kind (started, progress, finished, ...) did not apply: stale,
        duplicate, late, or the task is final. Must not block or raise."""
        ...

    def report_refused(self, report: str) -> None:
        """An agent's report of this kind (started, progress, finished) came from an agent
        that does not hold the task's current attempt, and was refused. Must not block."""
        ...

    def refused(self, reason: str) -> None:
        """A message was refused at the broker boundary (chiffon.report_gate's reasons, and
        the buses' `malformed` and `notify_*`: a fixed, small set). Must not block or raise."""
        ...
