"""Driven adapter: a clock and ids that tests (and fault injection) control."""

from __future__ import annotations

import asyncio
import itertools
import random
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


class LoopClock(Clock):
    """The event loop's clock as wall time, from `start`, plus any jumps: on a virtual-time
    loop, virtual wall time. `jump` moves it forward at once (an NTP step, a suspended VM)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._start = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._jumped = timedelta()

    def now(self) -> datetime:
        return self._start + self._jumped + timedelta(seconds=asyncio.get_running_loop().time())

    def jump(self, seconds: float) -> None:
        self._jumped += timedelta(seconds=seconds)


class SeededIds(IdFactory):
    """Random-looking UUIDs (version 4) drawn from a seeded generator: the same every run."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)

    def new_id(self) -> UUID:
        return UUID(int=self._random.getrandbits(128), version=4)
