"""Driven adapter: the agent registry in process memory (same contract as PostgreSQL)."""

from __future__ import annotations

import copy
from datetime import datetime
from uuid import UUID

import attrs

from chiffon.model import Agent, AgentStatus
from ports.agent_registry import AgentRegistry


class InMemoryAgentRegistry(AgentRegistry):
    def __init__(self) -> None:
        self._agents: dict[UUID, Agent] = {}

    async def record(self, agent: Agent) -> Agent:
        self._agents[agent.agent_id] = copy.deepcopy(agent)
        return copy.deepcopy(agent)

    async def get(self, agent_id: UUID) -> Agent | None:
        agent = self._agents.get(agent_id)
        return None if agent is None else copy.deepcopy(agent)

    async def find(
        self, agent_type: str | None = None, status: AgentStatus | None = None
    ) -> list[Agent]:
        found = [
            a
            for a in self._agents.values()
            if (agent_type is None or a.agent_type == agent_type)
            and (status is None or a.status is status)
        ]
        found.sort(key=lambda a: (a.agent_type, str(a.agent_id)))
        return copy.deepcopy(found)

    async def mark_offline(self, agent_id: UUID) -> Agent | None:
        agent = self._agents.get(agent_id)
        if agent is None or agent.status is AgentStatus.OFFLINE:
            return None
        return await self.record(_offline(agent))

    async def mark_stale_offline(self, heard_before: datetime) -> list[Agent]:
        stale = [
            a
            for a in self._agents.values()
            if a.status is not AgentStatus.OFFLINE and a.last_heartbeat_at < heard_before
        ]
        return [await self.record(_offline(a)) for a in stale]

    async def advertised_routes(self) -> list[tuple[str, str]]:
        return [
            (a.agent_type, work_type)
            for a in self._agents.values()
            if a.status is not AgentStatus.OFFLINE
            for work_type in a.capabilities
        ]

    async def forget_offline(self, heard_before: datetime, limit: int) -> int:
        gone = [
            a.agent_id
            for a in self._agents.values()
            if a.status is AgentStatus.OFFLINE and a.last_heartbeat_at < heard_before
        ][:limit]
        for agent_id in gone:
            del self._agents[agent_id]
        return len(gone)


def _offline(agent: Agent) -> Agent:
    """An agent gone offline runs nothing any more (the loss policy has its tasks)."""
    return attrs.evolve(agent, status=AgentStatus.OFFLINE, running_tasks=())
