"""Who may report on a task: only the agent that holds its current attempt.

An attempt is held by the agent whose `running` the orchestrator accepted for it (the task's
agent_id at that attempt). Until then nobody holds it, and the first `running` from an agent
claims it, once its work was sent. A lost agent's hold ends with the loss: the task moves to
its next attempt, or fails with no holder. Every other report (a stale attempt, another
agent, a lost agent coming back, a task whose attempt was never sent) is refused: never
applied, and recorded in the task's timeline. Issue 19 binds the agent's identity to its
reports; this rule is what that identity is checked against.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final
from uuid import UUID

import attrs

from chiffon.model import ChangeKind, Task, TaskStatus

REFUSED_KIND: Final = ChangeKind.REPORT_REFUSED


@attrs.frozen
class Report:
    """Who reports what: an agent's `started`, `progress` or `finished` about one attempt."""

    kind: str
    agent_id: UUID
    attempt: int


def holder(task: Task) -> UUID | None:
    """The agent holding the task's current attempt (None: nobody does)."""
    return task.agent_id


def refusal(task: Task, report: Report, now: datetime) -> str | None:
    """Why `report` must not be applied to `task`; None when it comes from the holder of the
    current attempt, or claims an attempt nobody holds whose work is out (a `running`, or a
    result whose `running` is still on its way)."""
    if report.attempt != task.attempt:
        return f"attempt {report.attempt} is not the current attempt ({task.attempt})"
    held_by = holder(task)
    if held_by is not None:
        if held_by != report.agent_id:
            return f"attempt {task.attempt} is held by agent {held_by}"
        return None
    if task.status is not TaskStatus.PENDING:
        return f"attempt {task.attempt} is held by no agent (the task is {task.status.value})"
    if task.next_attempt_at is not None and task.next_attempt_at > now:
        return f"attempt {task.attempt} is not sent before {task.next_attempt_at.isoformat()}"
    return None


def refused_changes(report: Report, reason: str) -> dict[str, object]:
    """A `report_refused` timeline entry's changes: under a key that is no task field, so a
    fold of the timeline leaves the task as it was."""
    refused = {"report": report.kind, "agent_id": str(report.agent_id)}
    return {"refused": {**refused, "attempt": report.attempt, "reason": reason}}
