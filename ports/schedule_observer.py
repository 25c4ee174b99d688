"""Port: what the scheduler tells observers (metrics) about its fires."""

from __future__ import annotations

from typing import Protocol


class ScheduleObserver(Protocol):
    def fired(self, work_type: str, lag_s: float) -> None:
        """A schedule dispatched a task `lag_s` seconds after its scheduled time (counted
        once, by the replica that claimed the fire). Must not block or raise."""
        ...

    def skipped(self, work_type: str, reason: str) -> None:
        """A scheduled time was not run: `missed` (catch-up), `overlap`, or `refused` (the
        dispatch was refused: unknown work type, no live agent). Must not block or raise."""
        ...
