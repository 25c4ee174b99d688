"""Driven adapter: a clock and ids that tests (and fault injection) control."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from uuid import UUID

from ports.clock import Clock, IdFactory


class ManualClock(Clock):
    """Time moves only when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)


class SequentialIds(IdFactory):
    """Predictable UUIDs: 00000000-0000-4000-8000-000000000001, ...2, ..."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def new_id(self) -> UUID:
        return UUID(f"00000000-0000-4000-8000-{next(self._counter):012x}")
