"""Why a pending task is not running yet: the rule, and the agents' availability per agent
type that it depends on (refreshed by the sweeper from the registry every second or so)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from chiffon.model import Agent, AgentStatus, Task, TaskStatus, WaitingReason


def due_reason(agents: Iterable[Agent]) -> WaitingReason:
    """What a due pending task of a type waits for, given that type's agents."""
    live = [a for a in agents if a.status is not AgentStatus.OFFLINE]
    if not live:
        return WaitingReason.NO_AGENT
    if all(a.status is AgentStatus.BUSY for a in live):
        return WaitingReason.AGENTS_BUSY
    return WaitingReason.QUEUED


def reason_for(
    task: Task, due: WaitingReason, now: datetime
) -> tuple[WaitingReason | None, datetime | None]:
    """(waiting_reason, waiting_until) of `task`: none unless pending; scheduled or
    retry_backoff while its attempt is not due; concurrency_limit while it waits for a slot
    of its concurrency key; else what due tasks of its type wait for."""
    if task.status is not TaskStatus.PENDING:
        return None, None
    if task.next_attempt_at is not None and task.next_attempt_at > now:
        kind = WaitingReason.SCHEDULED if task.attempt == 1 else WaitingReason.RETRY_BACKOFF
        return kind, task.next_attempt_at
    if task.concurrency_key is not None and task.admitted_at is None:
        return WaitingReason.CONCURRENCY_LIMIT, None
    return due, None


class AgentAvailability:
    """What due tasks of each agent type wait for, as last read from the registry."""

    def __init__(self) -> None:
        self._by_type: dict[str, WaitingReason] = {}

    def of(self, agent_type: str) -> WaitingReason:
        return self._by_type.get(agent_type, WaitingReason.NO_AGENT)

    def update(
        self, agents: Iterable[Agent], agent_types: Iterable[str]
    ) -> dict[str, WaitingReason]:
        """Recompute from `agents` for every type in `agent_types` (and every agent's own)."""
        grouped: dict[str, list[Agent]] = {t: [] for t in agent_types}
        for agent in agents:
            grouped.setdefault(agent.agent_type, []).append(agent)
        self._by_type = {t: due_reason(found) for t, found in grouped.items()}
        return dict(self._by_type)
