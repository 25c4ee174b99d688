"""Every kind of change a task can go through, as typed values, and the one decision that
checks a change against the lifecycle table and says what the task becomes.

A change names its target status (None: the status stays), the attempt it is about when it
comes from an agent, the fields it sets, and the messages it causes. Nothing outside this
module builds a task's new fields or restates a from-state.
"""

from __future__ import annotations

import operator
from datetime import datetime, timedelta
from typing import Any, ClassVar, Final
from uuid import UUID

import attrs

from chiffon import attempt_holder, lifecycle
from chiffon.attempt_holder import Report
from chiffon.config import MAX_OUTPUT_CHARS
from chiffon.json_values import json_fields
from chiffon.model import (
    CancelOutcome,
    EventDraft,
    ResultStatus,
    RetryOn,
    Task,
    TaskStatus,
    WaitingReason,
)
from chiffon.retry_policy import next_attempt_at, retries
from chiffon.timeouts import TIMEOUT_EXIT_CODE, timeout_error
from chiffon.waiting import reason_for

MAX_MESSAGE_CHARS: Final = 1000


@attrs.frozen
class Start:
    """An agent started the attempt (its `running` report)."""

    agent_id: UUID
    attempt: int
    kind: ClassVar[str] = "started"
    target: ClassVar[TaskStatus | None] = TaskStatus.RUNNING
    blind: ClassVar[bool] = True  # its fields do not depend on the task: written without a read

    @property
    def report(self) -> Report:
        return Report(self.kind, self.agent_id, self.attempt)

    def fields(self, task: Task | None, now: datetime) -> dict[str, Any]:
        return {
            "status": TaskStatus.RUNNING,
            "agent_id": self.agent_id,
            "started_at": now,
            "next_attempt_at": None,
            "waiting_reason": None,
            "waiting_until": None,
            "updated_at": now,
        }


@attrs.frozen
class Progress:
    """An agent's progress report for the attempt."""

    agent_id: UUID
    attempt: int
    percent: int | None
    message: str | None
    kind: ClassVar[str] = "progress"
    target: ClassVar[TaskStatus | None] = None
    blind: ClassVar[bool] = True

    @property
    def report(self) -> Report:
        return Report(self.kind, self.agent_id, self.attempt)

    def fields(self, task: Task | None, now: datetime) -> dict[str, Any]:
        message = None if self.message is None else self.message[:MAX_MESSAGE_CHARS]
        fields: dict[str, Any] = {"progress_message": message, "updated_at": now}
        if self.percent is not None:
            fields["progress_percent"] = max(0, min(100, self.percent))
        return fields


@attrs.frozen
class Finish:
    """The end of the attempt as its agent saw it. A failure the task's retry policy retries
    makes the task pending again for its next attempt, keeping this attempt's outcome."""

    attempt: int
    outcome: ResultStatus
    agent_id: UUID
    output: str | None = None
    result: Any = None
    error_message: str | None = None
    exit_code: int | None = None
    duration_ms: int | None = None
    retryable: bool = True
    kind: ClassVar[str] = "finished"

    @property
    def report(self) -> Report:
        return Report(self.kind, self.agent_id, self.attempt)

    @property
    def blind(self) -> bool:
        """Only a failure, a time-out or a stop depends on the task (its retry policy; for a
        stop, whether anyone asked for it)."""
        return self.outcome is ResultStatus.COMPLETED

    @property
    def target(self) -> TaskStatus:
        return TaskStatus(self.outcome.value)

    def target_for(self, task: Task | None) -> TaskStatus:
        if self._unasked_stop(task):
            return TaskStatus.PENDING if self._retried(task) else TaskStatus.FAILED
        return TaskStatus.PENDING if self._retried(task) else self.target

    def _unasked_stop(self, task: Task | None) -> bool:
        """The agent says it stopped the attempt, but the task was never cancelled (a cancel
        is final before the agent's word, so the task is still pending or running): the
        attempt ended without its work done, which is the loss policy's to decide, never
        `cancelled` with no cancel behind it."""
        return (
            self.outcome is ResultStatus.CANCELLED
            and task is not None
            and task.status is not TaskStatus.CANCELLED
        )

    def _retried(self, task: Task | None) -> bool:
        if self._unasked_stop(task):
            return task is not None and retries(task, RetryOn.LOST)
        if self.outcome is ResultStatus.TIMED_OUT:
            return _retries_timeout(task)
        failed = self.outcome is ResultStatus.FAILED and self.retryable
        return failed and task is not None and retries(task, RetryOn.FAILED)

    def fields(self, task: Task | None, now: datetime, jitter: float = 0.5) -> dict[str, Any]:
        if self.outcome is ResultStatus.TIMED_OUT and task is not None:
            # The agent's timer saw it first: the same end as the orchestrator's deadline.
            timed_out = TimeOut().fields(task, now, jitter)
            return {**timed_out, "output": _bounded(self.output), "duration_ms": self.duration_ms}
        error = self.error_message
        if self.outcome is ResultStatus.FAILED and not error:
            error = "the handler failed without a message"
        if self._unasked_stop(task):
            error = (
                f"agent {self.agent_id} stopped attempt {self.attempt} though the task was "
                "not cancelled"
            )
        outcome: dict[str, Any] = {
            "output": _bounded(self.output),
            "error_message": error,
            "exit_code": self.exit_code,
            "duration_ms": self.duration_ms,
            "updated_at": now,
        }
        if task is not None and self._retried(task):
            return {**outcome, **_next_attempt(task, now, jitter), "result": None}
        ended = self.target_for(task) if task is not None else self.target
        fields = {**outcome, "status": ended, "result": self.result, "finished_at": now}
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

    def fields(self, task: Task | None, now: datetime, jitter: float = 0.5) -> dict[str, Any]:
        assert task is not None
        return {**_next_attempt(task, now, jitter), "updated_at": now}


@attrs.frozen
class Fail:
    """The task fails without an agent's result: its agent was lost for good, or its work
    can never be sent (`attempt` is the one it is about). The attempt has no holder after
    it: the lost agent's late reports are refused (`reason` names it)."""

    attempt: int
    reason: str
    kind: str = "lost"
    target: ClassVar[TaskStatus | None] = TaskStatus.FAILED
    blind: ClassVar[bool] = False

    def fields(self, task: Task | None, now: datetime) -> dict[str, Any]:
        return {
            "status": TaskStatus.FAILED,
            "agent_id": None,
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

    def fields(self, task: Task | None, now: datetime) -> dict[str, Any]:
        assert task is not None
        ran = task.status is TaskStatus.RUNNING
        outcome = CancelOutcome.REQUESTED if ran else CancelOutcome.NOT_STARTED
        return {
            "status": TaskStatus.CANCELLED,
            "cancel_outcome": outcome,
            "finished_at": now,
            "updated_at": now,
        }


@attrs.frozen
class SettleCancel:
    """The last word on a cancel that waited for its agent: the agent's result for the
    attempt (it stopped, or it had finished: too late, its result kept), or its loss."""

    attempt: int
    finish: Finish | None  # None: the agent was lost before it answered
    target: ClassVar[TaskStatus | None] = None
    sources: ClassVar[frozenset[TaskStatus]] = lifecycle.CANCEL_CONFIRMABLE
    blind: ClassVar[bool] = False

    @property
    def kind(self) -> str:
        return "cancel_unconfirmed" if self.finish is None else "cancel_confirmed"

    def refusal(self, task: Task) -> str | None:
        if task.cancel_outcome is not CancelOutcome.REQUESTED:
            return f"the cancel is settled already ({task.cancel_outcome})"
        return None

    def fields(self, task: Task | None, now: datetime) -> dict[str, Any]:
        if self.finish is None:
            return {"cancel_outcome": CancelOutcome.UNCONFIRMED, "updated_at": now}
        if self.finish.outcome is ResultStatus.CANCELLED:
            return {"cancel_outcome": CancelOutcome.STOPPED, "updated_at": now}
        done = self.finish.fields(None, now)  # what the agent finished with, kept
        kept = ("output", "result", "error_message", "exit_code", "duration_ms")
        return {
            **{k: done[k] for k in kept},
            "cancel_outcome": CancelOutcome.TOO_LATE,
            "updated_at": now,
        }


@attrs.frozen
class TimeOut:
    """The task's deadline passed. A running handler is told to stop; with `timed_out` in its
    retry policy (and attempts left), the task gets its next attempt and a new deadline."""

    attempt: None = None
    kind: ClassVar[str] = "timed_out"
    target: ClassVar[TaskStatus | None] = TaskStatus.TIMED_OUT
    blind: ClassVar[bool] = False

    def target_for(self, task: Task | None) -> TaskStatus:
        return TaskStatus.PENDING if _retries_timeout(task) else TaskStatus.TIMED_OUT

    def stops_agent_of(self, task: Task) -> bool:
        # A retried attempt's agent stops on its own when its time runs out: a cancel (by
        # task, not attempt) would also stop the next attempt.
        return not _retries_timeout(task)

    def fields(self, task: Task | None, now: datetime, jitter: float = 0.5) -> dict[str, Any]:
        assert task is not None
        error = timeout_error(task.timeout_s)
        ended = {"error_message": error, "exit_code": TIMEOUT_EXIT_CODE, "updated_at": now}
        if _retries_timeout(task):
            nxt = _next_attempt(task, now, jitter)
            start = nxt["next_attempt_at"] or now
            deadline = start + timedelta(seconds=task.timeout_s or 0)
            error = f"attempt {task.attempt} {error}"
            return {**nxt, **ended, "error_message": error, "deadline_at": deadline}
        return {**ended, "status": TaskStatus.TIMED_OUT, "finished_at": now}


def _retries_timeout(task: Task | None) -> bool:
    return task is not None and task.timeout_s is not None and retries(task, RetryOn.TIMED_OUT)


def _next_attempt(task: Task, now: datetime, jitter: float) -> dict[str, Any]:
    """The fields of a task made pending again for its next attempt."""
    return {
        "status": TaskStatus.PENDING,
        "attempt": task.attempt + 1,
        "agent_id": None,
        "started_at": None,
        "progress_percent": None,
        "progress_message": None,
        "next_attempt_at": next_attempt_at(task, now, jitter),
    }


Change = Start | Progress | Finish | Retry | Fail | Cancel | TimeOut | SettleCancel


@attrs.frozen
class Accepted:
    """What a change makes of a task: the task as it will be stored, the fields that change,
    and its timeline entry."""

    task: Task
    fields: dict[str, Any]
    event: EventDraft
    causes_work: bool = False  # a next attempt: announced through the outbox, then its work


@attrs.frozen
class Refused:
    """Why a change does not apply to the task as it is (stale, duplicate, late, final).
    `foreign`: an agent's report that is not from the attempt's holder (recorded)."""

    reason: str
    foreign: Report | None = None


def allowed_from(change: Change, task: Task | None = None) -> frozenset[TaskStatus]:
    own: frozenset[TaskStatus] | None = getattr(change, "sources", None)
    return own if own is not None else lifecycle.sources_for(target_of(change, task))


def target_of(change: Change, task: Task | None) -> TaskStatus | None:
    """Where the change takes the task (None: its status stays)."""
    target_for = getattr(change, "target_for", None)
    return target_for(task) if target_for is not None else change.target


def decide(
    task: Task,
    change: Change,
    now: datetime,
    jitter: float = 0.5,
    due: WaitingReason = WaitingReason.QUEUED,
) -> Accepted | Refused:
    """The change applied to `task`, checked against the lifecycle table and the attempt.
    `jitter` (in [0, 1)) is the random part of a retry's backoff; `due` is what a due pending
    task of its type waits for (its waiting_reason if the change leaves it pending)."""
    report = getattr(change, "report", None)
    if report is not None:
        why = attempt_holder.refusal(task, report, now)
        if why is not None:
            return Refused(why, report)
    target = target_of(change, task)
    if task.status not in allowed_from(change, task):
        to = "an update" if target is None else target.value
        return Refused(f"{change.kind} not allowed: {task.status.value} to {to}")
    if change.attempt is not None and change.attempt != task.attempt:
        return Refused(f"{change.kind} of attempt {change.attempt}; the task is at {task.attempt}")
    refusal = change.refusal(task) if isinstance(change, SettleCancel) else None
    if refusal is not None:
        return Refused(refusal)
    fields = _fields(change, task, now, jitter)
    fields.update(_waiting(task, attrs.evolve(task, **fields), due, now))
    new = attrs.evolve(task, revision=task.revision + 1, **fields)
    event = draft(change, fields, now, new.status)
    return Accepted(new, fields, event, new.attempt > task.attempt)


def _waiting(before: Task, after: Task, due: WaitingReason, now: datetime) -> dict[str, Any]:
    """The waiting fields that change with the task: set while pending, cleared after."""
    reason, until = reason_for(after, due, now)
    if (reason, until) == (before.waiting_reason, before.waiting_until):
        return {}
    return {"waiting_reason": reason, "waiting_until": until}


def _fields(change: Change, task: Task, now: datetime, jitter: float) -> dict[str, Any]:
    if isinstance(change, Finish | Retry | TimeOut):
        return change.fields(task, now, jitter)
    return change.fields(task, now)


def refused(task: Task, report: Report, reason: str, now: datetime) -> Accepted:
    """The timeline entry of a refused report: the task's status and fields stay as they are
    (only its revision moves, as for every entry)."""
    changes = attempt_holder.refused_changes(report, reason)
    event = EventDraft(attempt_holder.REFUSED_KIND, now, task.status, changes)
    return Accepted(attrs.evolve(task, revision=task.revision + 1), {}, event)


def stops_agent(change: Change, task: Task) -> bool:
    """Whether the agent running the task (if any) must be told to stop."""
    if isinstance(change, TimeOut):
        return change.stops_agent_of(task)
    return isinstance(change, Cancel)


def draft(
    change: Change, fields: dict[str, Any], now: datetime, status: TaskStatus | None = None
) -> EventDraft:
    """The timeline entry of `change` setting `fields`: its status is the task's after the
    change when the caller knows it (a settled cancel stays cancelled), else the target's,
    or, for a blind update, running: the only state a blind update applies in."""
    after = status if status is not None else fields.get("status", TaskStatus.RUNNING)
    changes = json_fields(fields)
    reporter = reported_by(change)
    if reporter is not None:
        changes["reported_by"] = reporter
    return EventDraft(change.kind, now, after, changes)


def reported_by(change: Change) -> dict[str, Any] | None:
    """Which agent's report, about which attempt, a change applies (None: not a report), kept
    in its timeline entry under a key that is no task field, so the history checker can tell
    a result applied from the holder of the current attempt from any other."""
    report = change.finish if isinstance(change, SettleCancel) else change
    if not isinstance(report, Start | Progress | Finish):
        return None
    agent_id = getattr(report, "agent_id", None)
    said: dict[str, Any] = {"attempt": report.attempt}
    if agent_id is not None:
        said["agent_id"] = str(agent_id)
    return said


def dispatched(task: Task) -> EventDraft:
    """Revision 1: every field but the parameters, so a fold of the timeline starts whole."""
    fields = dict(zip(_LOGGED, _logged_values(task), strict=True))
    return EventDraft("dispatched", task.created_at, task.status, json_fields(fields))


# A task's fields but its parameters, read at once (attrs.asdict is several times slower).
_LOGGED: Final = tuple(f.name for f in attrs.fields(Task) if f.name != "parameters")
_logged_values = operator.attrgetter(*_LOGGED)


def _bounded(output: str | None) -> str | None:
    if output is None or len(output) <= MAX_OUTPUT_CHARS:
        return output
    return output[-MAX_OUTPUT_CHARS:]
