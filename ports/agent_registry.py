"""Port: the registry of agents, kept from their heartbeats."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID

from chiffon.model import Agent, AgentStatus


class AgentRegistry(Protocol):
    """Agents by agent_id. Implementations return copies, never live objects."""

    async def record(self, agent: Agent) -> Agent:
        """Insert or replace the agent (a heartbeat); returns what is stored."""
        ...

    async def get(self, agent_id: UUID) -> Agent | None: ...

    async def find(
        self, agent_type: str | None = None, status: AgentStatus | None = None
    ) -> list[Agent]:
        """Agents matching the filters, ordered by (agent_type, agent_id)."""
        ...

    async def mark_offline(self, agent_id: UUID) -> Agent | None:
        """Set one agent offline (with no running tasks); returns it only if this call
        changed it."""
        ...

    async def mark_stale_offline(self, heard_before: datetime) -> list[Agent]:
        """Set offline (with no running tasks) every agent not offline whose last heartbeat
        is older than `heard_before`, as one atomic step; return exactly the agents this call
        changed."""
        ...

    async def advertised_routes(self) -> list[tuple[str, str]]:
        """(agent_type, work_type) pairs that agents not offline advertise as capabilities."""
        ...

    async def forget_offline(self, heard_before: datetime, limit: int) -> int:
        """Delete up to `limit` offline agents last heard before `heard_before`; returns how
        many (retention)."""
        ...
