"""Driven adapter: the system clock and random UUIDs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from ports.clock import Clock, IdFactory


class SystemClock(Clock):
    def now(self) -> datetime:
        return datetime.now(UTC)


class RandomIds(IdFactory):
    def new_id(self) -> uuid.UUID:
        return uuid.uuid4()
