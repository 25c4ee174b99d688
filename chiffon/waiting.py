"""Why a pending task is not running yet: the rule, and the agents' availability per agent
type that it depends on (refreshed by the sweeper from the registry every second or so)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Final

import attrs

from chiffon.model import Agent, AgentStatus, Task, TaskStatus, WaitingReason


@attrs.frozen
class WaitCase:
    """One case of the rule: a pending task whose attempt is `due` or not, and is its
    `first_attempt` or a later one (None: either), waits for `reason` (None: for what due
    tasks of its type wait for, given its agents). One not due waits until its attempt's
    time (next_attempt_at); a due one, for no set time."""

    due: bool
    first_attempt: bool | None
    reason: WaitingReason | None


# The waiting-reason rule, said once: the first case that holds gives the reason. Python
# reads it below; the PostgreSQL adapter writes its SQL from it (adapters/postgres/task_sql.py).
WAITING_RULE: Final = (
    WaitCase(due=False, first_attempt=True, reason=WaitingReason.SCHEDULED),
    WaitCase(due=False, first_attempt=False, reason=WaitingReason.RETRY_BACKOFF),
    WaitCase(due=True, first_attempt=None, reason=None),
)


def _by_case() -> dict[tuple[bool, bool], WaitingReason | None]:
    found: dict[tuple[bool, bool], WaitingReason | None] = {}
    for case in WAITING_RULE:
        firsts = (True, False) if case.first_attempt is None else (case.first_attempt,)
        for first in firsts:
            found.setdefault((case.due, first), case.reason)
    return found


_BY_CASE: Final = _by_case()


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
    """(waiting_reason, waiting_until) of `task` by WAITING_RULE: none unless pending;
    scheduled or retry_backoff while its attempt is not due; else `due`, what due tasks of
    its type wait for."""
    if task.status is not TaskStatus.PENDING:
        return None, None
    return pending_reason(task.next_attempt_at, task.attempt, due, now)


def pending_reason(
    next_attempt_at: datetime | None, attempt: int, due: WaitingReason, now: datetime
) -> tuple[WaitingReason, datetime | None]:
    """reason_for a pending task whose attempt `attempt` is due at `next_attempt_at` (a new
    task's, before it exists as a Task), by WAITING_RULE."""
    is_due = next_attempt_at is None or next_attempt_at <= now
    reason = _BY_CASE[is_due, attempt == 1]
    return (due if reason is None else reason), None if is_due else next_attempt_at


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
