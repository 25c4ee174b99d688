"""Driven adapter: the agent registry on PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final
from uuid import UUID

import asyncpg

from adapters.postgres.errors import connection, translates_errors
from adapters.postgres.rows import AGENT_COLUMNS, agent_from_row, agent_params
from chiffon.model import Agent, AgentStatus
from ports.agent_registry import AgentRegistry

_COLS = ", ".join(AGENT_COLUMNS)
_ARGS = ", ".join(f"${i}" for i in range(1, len(AGENT_COLUMNS) + 1))
_UPDATES = ", ".join(f"{c} = EXCLUDED.{c}" for c in AGENT_COLUMNS if c != "agent_id")

UPSERT: Final = (
    f"INSERT INTO agents ({_COLS}) VALUES ({_ARGS})"
    f" ON CONFLICT (agent_id) DO UPDATE SET {_UPDATES} RETURNING *"
)
SELECT_ONE: Final = "SELECT * FROM agents WHERE agent_id = $1"
MARK_OFFLINE: Final = (
    "UPDATE agents SET status = 'offline', running_tasks = '{}'"
    " WHERE agent_id = $1 AND status <> 'offline' RETURNING *"
)
MARK_STALE: Final = """
WITH changed AS (
    UPDATE agents SET status = 'offline', running_tasks = '{}'
    WHERE status <> 'offline' AND last_heartbeat_at < $1
    RETURNING *
)
SELECT * FROM changed ORDER BY agent_type, agent_id
"""
FORGET_OFFLINE: Final = """
WITH gone AS (
    DELETE FROM agents WHERE agent_id IN (
        SELECT agent_id FROM agents WHERE status = 'offline' AND last_heartbeat_at < $1
        LIMIT $2 FOR UPDATE SKIP LOCKED
    ) RETURNING agent_id
)
SELECT count(*) FROM gone
"""
ROUTES: Final = """
SELECT a.agent_type, c.work_type
FROM agents a, unnest(a.capabilities) WITH ORDINALITY AS c(work_type, n)
WHERE a.status <> 'offline'
ORDER BY a.agent_type, a.agent_id, c.n
"""


class PostgresAgentRegistry(AgentRegistry):
    """Heartbeats are upserts; status changes are single conditional UPDATEs, so two replicas
    sweeping at once never both report the same agent as newly offline."""

    def __init__(self, pool: asyncpg.Pool, acquire_timeout: float = 5.0) -> None:
        self._pool = pool
        self._acquire_timeout = acquire_timeout

    @translates_errors
    async def record(self, agent: Agent) -> Agent:
        row = await self._fetchrow(UPSERT, *agent_params(agent))
        assert row is not None  # an upsert always returns its row
        return agent_from_row(row)

    @translates_errors
    async def get(self, agent_id: UUID) -> Agent | None:
        row = await self._fetchrow(SELECT_ONE, agent_id)
        return None if row is None else agent_from_row(row)

    @translates_errors
    async def find(
        self, agent_type: str | None = None, status: AgentStatus | None = None
    ) -> list[Agent]:
        where: list[str] = []
        args: list[Any] = []
        for column, value in (
            ("agent_type", agent_type),
            ("status", None if status is None else status.value),
        ):
            if value is not None:
                args.append(value)
                where.append(f"{column} = ${len(args)}")
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        rows = await self._fetch(
            f"SELECT * FROM agents {clause}ORDER BY agent_type, agent_id", *args
        )
        return [agent_from_row(r) for r in rows]

    @translates_errors
    async def mark_offline(self, agent_id: UUID) -> Agent | None:
        row = await self._fetchrow(MARK_OFFLINE, agent_id)
        return None if row is None else agent_from_row(row)

    @translates_errors
    async def mark_stale_offline(self, heard_before: datetime) -> list[Agent]:
        return [agent_from_row(r) for r in await self._fetch(MARK_STALE, heard_before)]

    @translates_errors
    async def forget_offline(self, heard_before: datetime, limit: int) -> int:
        async with connection(self._pool, self._acquire_timeout) as conn:
            gone: int = await conn.fetchval(FORGET_OFFLINE, heard_before, limit)
            return gone

    @translates_errors
    async def advertised_routes(self) -> list[tuple[str, str]]:
        return [(r["agent_type"], r["work_type"]) for r in await self._fetch(ROUTES)]

    async def _fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        async with connection(self._pool, self._acquire_timeout) as conn:
            rows: list[asyncpg.Record] = await conn.fetch(query, *args)
            return rows

    async def _fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        async with connection(self._pool, self._acquire_timeout) as conn:
            row: asyncpg.Record | None = await conn.fetchrow(query, *args)
            return row
