"""Every kind of change a task can go through, as typed values, and the one decision that
checks a change against the lifecycle table and says what the task becomes.

A change names its target status (None: the status stays), the attempt it is about when it
comes from an agent, the fields it sets, and the messages it causes. Nothing outside this
module builds a task's new fields or restates a from-state.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Final
from uuid import UUID

import attrs

from chiffon import lifecycle
from chiffon.config import MAX_OUTPUT_CHARS
from chiffon.json_values import json_fields
from chiffon.model import EventDraft, ResultStatus, Task, TaskStatus

MAX_MESSAGE_CHARS: Final = 1000


@attrs.frozen
class Start:
    """An agent started the attempt (its `running` report)."""

    agent_id: UUID
    attempt: int
    kind: ClassVar[str] = "started"
    target: ClassVar[TaskStatus | None] = TaskStatus.RUNNING
    blind: ClassVar[bool] = True  # its fields do not depend on the task: written without a read

    def fields(self, task: Task | None, now: datetime) -> dict[str, Any]:
        return {
            "status": TaskStatus.RUNNING,
            "agent_id": self.agent_id,
            "started_at": now,
            "updated_at": now,
        }


@attrs.frozen
class Progress:
    """An agent's progress report for the attempt."""

    attempt: int
    percent: int | None
    message: str | None
    kind: ClassVar[str] = "progress"
    target: ClassVar[TaskStatus | None] = None
    blind: ClassVar[bool] = True

    def fields(self, task: Task | None, now: datetime) -> dict[str, Any]:
        message = None if self.message is None else self.message[:MAX_MESSAGE_CHARS]
        fields: dict[str, Any] = {"progress_message": message, "updated_at": now}
        if self.percent is not None:
            fields["progress_percent"] = max(0, min(100, self.percent))
        return fields


@attrs.frozen
class Finish:
    """The end of the attempt as its agent saw it."""

    attempt: int
    outcome: ResultStatus
    agent_id: UUID
    output: str | None = None
    result: Any = None
    error_message: str | None = None
    exit_code: int | None = None
    duration_ms: int | None = None
    kind: ClassVar[str] = "finished"
    blind: ClassVar[bool] = True

    @property
    def target(self) -> TaskStatus:
        return TaskStatus(self.outcome.value)

    def fields(self, task: Task | None, now: datetime) -> dict[str, Any]:
        error = self.error_message
        if self.outcome is ResultStatus.FAILED and not error:
            error = "the handler failed without a message"
        fields: dict[str, Any] = {
            "status": self.target,
            "output": _bounded(self.output),
            "result": self.result,
            "error_message": error,
            "exit_code": self.exit_code,
            "duration_ms": self.duration_ms,
            "finished_at": now,
            "updated_at": now,
        }
        if self.outcome is ResultStatus.COMPLETED:
            fields["progress_percent"] = 100
        return fields

    def prerequisite(self, task: Task) -> Start | None:
        """A result implies the attempt ran, even if its `running` was never seen."""
        if task.status is TaskStatus.PENDING and task.attempt == self.attempt:
            return Start(self.agent_id, self.attempt)
        return None


@attrs.frozen
class Retry:
    """The agent running the attempt was lost; the loss policy runs the next attempt."""

    attempt: int
    kind: ClassVar[str] = "retried"
    target: ClassVar[TaskStatus | None] = TaskStatus.PENDING
    blind: ClassVar[bool] = False
    causes_work: ClassVar[bool] = True  # announced through the outbox, ahead of the work

    def fields(self, task: Task | None, now: datetime) -> dict[str, Any]:
        assert task is not None
        return {
            "status": TaskStatus.PENDING,
            "attempt": task.attempt + 1,
            "agent_id": None,
            "started_at": None,
            "progress_percent": None,
            "progress_message": None,
            "updated_at": now,
        }


@attrs.frozen
class Fail:
    """The task fails without an agent's result: its agent was lost for good, or its work
    can never be sent (`attempt` is the one it is about)."""

    attempt: int
    reason: str
    kind: str = "lost"
    target: ClassVar[TaskStatus | None] = TaskStatus.FAILED
    blind: ClassVar[bool] = False

    def fields(self, task: Task | None, now: datetime) -> dict[str, Any]:
        return {
            "status": TaskStatus.FAILED,
            "error_message": self.reason[:MAX_MESSAGE_CHARS],
            "finished_at": now,
            "updated_at": now,
        }


@attrs.frozen
class Cancel:
    """The caller cancelled the task; its agent (if any) is told to stop."""

    reason: str = "cancelled by caller"
    attempt: None = None
    kind: ClassVar[str] = "cancelled"
    target: ClassVar[TaskStatus | None] = TaskStatus.CANCELLED
    blind: ClassVar[bool] = False
    stops_agent: ClassVar[bool] = True

    def fields(self, task: Task | None, now: datetime) -> dict[str, Any]:
        return {"status": TaskStatus.CANCELLED, "finished_at": now, "updated_at": now}


@attrs.frozen
class TimeOut:
    """The task's deadline passed; a running handler is told to stop."""

    attempt: None = None
    kind: ClassVar[str] = "timed_out"
    target: ClassVar[TaskStatus | None] = TaskStatus.TIMED_OUT
    blind: ClassVar[bool] = False
    stops_agent: ClassVar[bool] = True

    def fields(self, task: Task | None, now: datetime) -> dict[str, Any]:
        assert task is not None
        return {
            "status": TaskStatus.TIMED_OUT,
            "finished_at": now,
            "updated_at": now,
            "error_message": f"timed out after {task.timeout_s}s",
        }


Change = Start | Progress | Finish | Retry | Fail | Cancel | TimeOut


@attrs.frozen
class Accepted:
    """What a change makes of a task: the task as it will be stored, the fields that change,
    and its timeline entry."""

    task: Task
    fields: dict[str, Any]
    event: EventDraft


@attrs.frozen
class Refused:
    """Why a change does not apply to the task as it is (stale, duplicate, late, final)."""

    reason: str


def allowed_from(change: Change) -> frozenset[TaskStatus]:
    return lifecycle.sources_for(change.target)


def decide(task: Task, change: Change, now: datetime) -> Accepted | Refused:
    """The change applied to `task`, checked against the lifecycle table and the attempt."""
    if task.status not in allowed_from(change):
        target = "an update" if change.target is None else change.target.value
        return Refused(f"{change.kind} not allowed: {task.status.value} to {target}")
    if change.attempt is not None and change.attempt != task.attempt:
        return Refused(f"{change.kind} of attempt {change.attempt}; the task is at {task.attempt}")
    fields = change.fields(task, now)
    new = attrs.evolve(task, revision=task.revision + 1, **fields)
    return Accepted(new, fields, draft(change, fields, now))


def draft(change: Change, fields: dict[str, Any], now: datetime) -> EventDraft:
    """The timeline entry of `change` setting `fields` (its status is the target's, or, for
    an update, running: the only state an update applies in)."""
    status = fields.get("status", TaskStatus.RUNNING)
    return EventDraft(change.kind, now, status, json_fields(fields))


def dispatched(task: Task) -> EventDraft:
    """Revision 1: every field but the parameters, so a fold of the timeline starts whole."""
    fields = {k: v for k, v in attrs.asdict(task, recurse=False).items() if k != "parameters"}
    return EventDraft("dispatched", task.created_at, task.status, json_fields(fields))


def _bounded(output: str | None) -> str | None:
    if output is None or len(output) <= MAX_OUTPUT_CHARS:
        return output
    return output[-MAX_OUTPUT_CHARS:]
