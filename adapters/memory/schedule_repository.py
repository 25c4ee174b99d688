"""Driven adapter: schedules in process memory (tests, demo mode)."""

from __future__ import annotations

import copy
from datetime import datetime
from uuid import UUID

import attrs

from chiffon.schedules import Schedule
from ports.schedule_repository import ScheduleRepository


class InMemoryScheduleRepository(ScheduleRepository):
    """A dict of schedules; every write is one step with no await inside, so conditional
    saves are atomic here as they are in a PostgreSQL UPDATE."""

    def __init__(self) -> None:
        self._rows: dict[UUID, Schedule] = {}

    async def create(self, schedule: Schedule) -> bool:
        if schedule.schedule_id in self._rows:
            return False
        self._rows[schedule.schedule_id] = copy.deepcopy(schedule)
        return True

    async def get(self, schedule_id: UUID) -> Schedule | None:
        found = self._rows.get(schedule_id)
        return None if found is None else copy.deepcopy(found)

    async def list_all(self, limit: int = 1000) -> list[Schedule]:
        ordered = sorted(self._rows.values(), key=lambda s: (s.created_at, s.schedule_id))
        return copy.deepcopy(ordered[:limit])

    async def due(self, now: datetime, limit: int = 100) -> list[Schedule]:
        def is_due(s: Schedule) -> bool:
            on_time = s.next_fire_at is not None and s.next_fire_at <= now
            return not s.paused and (on_time or s.buffered_at is not None)

        def order(s: Schedule) -> tuple[bool, datetime, UUID]:
            at = s.next_fire_at if s.next_fire_at is not None and s.next_fire_at <= now else None
            return (at is None, at or now, s.schedule_id)

        return copy.deepcopy(sorted(filter(is_due, self._rows.values()), key=order)[:limit])

    async def save(self, schedule: Schedule, expected_revision: int) -> Schedule | None:
        stored = self._rows.get(schedule.schedule_id)
        if stored is None or stored.revision != expected_revision:
            return None
        saved = attrs.evolve(copy.deepcopy(schedule), revision=expected_revision + 1)
        self._rows[schedule.schedule_id] = saved
        return copy.deepcopy(saved)

    async def delete(self, schedule_id: UUID) -> bool:
        return self._rows.pop(schedule_id, None) is not None
