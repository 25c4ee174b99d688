"""Driven adapter: schedules on PostgreSQL (a fire is claimed by a conditional UPDATE)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final
from uuid import UUID

import asyncpg
import attrs

from adapters.codec import converter
from adapters.postgres.errors import connection, translates_errors
from chiffon.schedules import Schedule
from ports.schedule_repository import ScheduleRepository

INSERT: Final = """
INSERT INTO schedules (schedule_id, revision, paused, next_fire_at, buffered_at, created_at, body)
VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (schedule_id) DO NOTHING
"""
SAVE: Final = """
UPDATE schedules SET revision = $2, paused = $3, next_fire_at = $4, buffered_at = $5, body = $6
WHERE schedule_id = $1 AND revision = $7
RETURNING body
"""
SELECT_ONE: Final = "SELECT body FROM schedules WHERE schedule_id = $1"
SELECT_ALL: Final = "SELECT body FROM schedules ORDER BY created_at, schedule_id LIMIT $1"
SELECT_DUE: Final = """
SELECT body FROM schedules
WHERE NOT paused AND (next_fire_at <= $1 OR buffered_at IS NOT NULL)
ORDER BY (next_fire_at <= $1) IS NOT TRUE, next_fire_at, schedule_id
LIMIT $2
"""
DELETE: Final = "DELETE FROM schedules WHERE schedule_id = $1"


def _params(schedule: Schedule) -> list[Any]:
    body = converter.unstructure(schedule)
    return [
        schedule.schedule_id,
        schedule.revision,
        schedule.paused,
        schedule.next_fire_at,
        schedule.buffered_at,
        schedule.created_at,
        body,
    ]


def _schedule(row: Mapping[str, Any]) -> Schedule:
    return converter.structure(row["body"], Schedule)


class PostgresScheduleRepository(ScheduleRepository):
    """One row per schedule; writes are single statements, so concurrent replicas need no
    lock: the revision condition decides which of them stores a tick."""

    def __init__(self, pool: asyncpg.Pool, acquire_timeout: float = 5.0) -> None:
        self._pool = pool
        self._acquire_timeout = acquire_timeout

    @translates_errors
    async def create(self, schedule: Schedule) -> bool:
        async with connection(self._pool, self._acquire_timeout) as conn:
            status: str = await conn.execute(INSERT, *_params(schedule))
            return status.endswith(" 1")

    @translates_errors
    async def get(self, schedule_id: UUID) -> Schedule | None:
        async with connection(self._pool, self._acquire_timeout) as conn:
            row = await conn.fetchrow(SELECT_ONE, schedule_id)
            return None if row is None else _schedule(row)

    @translates_errors
    async def list_all(self, limit: int = 1000) -> list[Schedule]:
        async with connection(self._pool, self._acquire_timeout) as conn:
            return [_schedule(r) for r in await conn.fetch(SELECT_ALL, limit)]

    @translates_errors
    async def due(self, now: datetime, limit: int = 100) -> list[Schedule]:
        async with connection(self._pool, self._acquire_timeout) as conn:
            return [_schedule(r) for r in await conn.fetch(SELECT_DUE, now, limit)]

    @translates_errors
    async def save(self, schedule: Schedule, expected_revision: int) -> Schedule | None:
        stored = attrs.evolve(schedule, revision=expected_revision + 1)
        async with connection(self._pool, self._acquire_timeout) as conn:
            params = _params(stored)
            del params[5]  # created_at never changes
            row = await conn.fetchrow(SAVE, *params, expected_revision)
            return None if row is None else _schedule(row)

    @translates_errors
    async def delete(self, schedule_id: UUID) -> bool:
        async with connection(self._pool, self._acquire_timeout) as conn:
            status: str = await conn.execute(DELETE, schedule_id)
            return status == "DELETE 1"
