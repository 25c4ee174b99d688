"""Every kind of change a task can go through, as typed values, and the one decision that
checks a change against the lifecycle table and says what the task becomes.

Every change implements the `Change` protocol: its kind, the attempt it is about, where it
may start and where it takes the task (the lifecycle table), and the patch of fields it sets.
Nothing outside this module builds a task's new fields or restates a from-state, and nothing
here asks a change what kind it is.
"""

from __future__ import annotations

import operator
from datetime import datetime, timedelta
from typing import Any, ClassVar, Final, Protocol
from uuid import UUID

import attrs

from chiffon import attempt_holder, lifecycle
from chiffon.attempt_holder import Report
from chiffon.config import MAX_OUTPUT_CHARS
from chiffon.json_values import json_fields, json_fields_of
from chiffon.model import (
    CancelOutcome,
    ChangeKind,
    EventDraft,
    ResultStatus,
    RetryOn,
    Task,
    TaskStatus,
    WaitingReason,
)
from chiffon.patch import KEEP, ReportGuard, TaskPatch
from chiffon.retry_policy import next_attempt_at, retries
from chiffon.timeouts import TIMEOUT_EXIT_CODE, timeout_error
from chiffon.waiting import reason_for

MAX_MESSAGE_CHARS: Final = 1000


class Change(Protocol):
    """One change to a task. A class implementing it states what it needs and inherits the
    rest: most changes are not reports, settle nothing and tell no agent to stop."""

    @property
    def kind(self) -> ChangeKind:
        """Its name in the timeline (and in the events announced after it)."""
        ...

    @property
    def attempt(self) -> int | None:
        """The attempt it is about (None: whichever is current)."""
        ...

    def target(self, task: Task | None) -> TaskStatus | None:
        """Where it takes `task` (None: the status stays; `task` None: decided unread)."""
        ...

    def patch(self, task: Task | None, now: datetime, jitter: float) -> TaskPatch:
        """The fields it sets on `task` (None: written without a read, see `unread`).
        `jitter` (in [0, 1)) is the random part of a retry's backoff."""
        ...

    def sources(self, task: Task | None) -> frozenset[TaskStatus]:
        """The states it may start from: the lifecycle table's, for its target."""
        return lifecycle.sources_for(self.target(task))

    def report(self) -> Report | None:
        """The agent's report it applies, checked against the attempt's holder (None: none)."""
        return None

    def unread(self, now: datetime) -> ReportGuard | None:
        """The guard under which it may be written without reading the task first, because
        its fields do not depend on the task (None: it is decided after a read)."""
        return None

    def refusal(self, task: Task) -> str | None:
        """Why it cannot apply to `task` beyond the table and the attempt (None: it can)."""
        return None

    def prerequisite(self, task: Task) -> Change | None:
        """A change that must apply to `task` first (None: none)."""
        return None

    def replacement(self, task: Task) -> Change | None:
        """The change that applies to `task` in its place (None: itself)."""
        return None

    def stop_reason(self, task: Task) -> str | None:
        """Why the agent running `task` (if any) is told to stop (None: it is not)."""
        return None

    def reported_by(self) -> dict[str, Any] | None:
        """Which agent's report, about which attempt, it applies (None: not a report), kept
        in its timeline entry under a key that is no task field, so the history checker can
        tell a result applied from the holder of the current attempt from any other."""
        return None


@attrs.frozen
class Start(Change):
    """An agent started the attempt (its `running` report)."""

    agent_id: UUID
    attempt: int
    kind: ClassVar[ChangeKind] = ChangeKind.STARTED

    def target(self, task: Task | None) -> TaskStatus | None:
        return TaskStatus.RUNNING

    def report(self) -> Report:
        return Report(self.kind, self.agent_id, self.attempt)

    def unread(self, now: datetime) -> ReportGuard:
        # A `running` claims an attempt nobody holds, once its work is out.
        return ReportGuard(self.sources(None), self.attempt, due_by=now)

    def reported_by(self) -> dict[str, Any]:
        return _said(self.agent_id, self.attempt)

    def patch(self, task: Task | None, now: datetime, jitter: float = 0.5) -> TaskPatch:
        return TaskPatch(
            status=TaskStatus.RUNNING,
            agent_id=self.agent_id,
            started_at=now,
            next_attempt_at=None,
            waiting_reason=None,
            waiting_until=None,
            updated_at=now,
        )


@attrs.frozen
class Progress(Change):
    """An agent's progress report for the attempt."""

    agent_id: UUID
    attempt: int
    percent: int | None
    message: str | None
    kind: ClassVar[ChangeKind] = ChangeKind.PROGRESS

    def target(self, task: Task | None) -> TaskStatus | None:
        return None

    def report(self) -> Report:
        return Report(self.kind, self.agent_id, self.attempt)

    def unread(self, now: datetime) -> ReportGuard:
        return _held(self, self.agent_id)

    def reported_by(self) -> dict[str, Any]:
        return _said(self.agent_id, self.attempt)

    def patch(self, task: Task | None, now: datetime, jitter: float = 0.5) -> TaskPatch:
        message = None if self.message is None else self.message[:MAX_MESSAGE_CHARS]
        percent = KEEP if self.percent is None else max(0, min(100, self.percent))
        return TaskPatch(progress_percent=percent, progress_message=message, updated_at=now)


@attrs.frozen
class Finish(Change):
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
    kind: ClassVar[ChangeKind] = ChangeKind.FINISHED

    def report(self) -> Report:
        return Report(self.kind, self.agent_id, self.attempt)

    def unread(self, now: datetime) -> ReportGuard | None:
        """Only a completion: a failure, a time-out or a stop depends on the task (its retry
        policy; for a stop, whether anyone asked for it)."""
        if self.outcome is ResultStatus.COMPLETED:
            return _held(self, self.agent_id)
        return None

    def reported_by(self) -> dict[str, Any]:
        return _said(self.agent_id, self.attempt)

    def target(self, task: Task | None) -> TaskStatus:
        if self._retried(task):
            return TaskStatus.PENDING
        if self._unasked_stop(task):
            return TaskStatus.FAILED
        return TaskStatus(self.outcome.value)

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

    def patch(self, task: Task | None, now: datetime, jitter: float = 0.5) -> TaskPatch:
        if self.outcome is ResultStatus.TIMED_OUT and task is not None:
            # The agent's timer saw it first: the same end as the orchestrator's deadline.
            timed_out = TimeOut().patch(task, now, jitter)
            return timed_out | TaskPatch(output=_bounded(self.output), duration_ms=self.duration_ms)
        error = self.error_message
        if self.outcome is ResultStatus.FAILED and not error:
            error = "the handler failed without a message"
        if self._unasked_stop(task):
            error = (
                f"agent {self.agent_id} stopped attempt {self.attempt} though the task was "
                "not cancelled"
            )
        if task is not None and self._retried(task):
            outcome = TaskPatch(
                output=_bounded(self.output),
                error_message=error,
                exit_code=self.exit_code,
                duration_ms=self.duration_ms,
                updated_at=now,
            )
            return outcome | _next_attempt(task, now, jitter) | TaskPatch(result=None)
        done = self.outcome is ResultStatus.COMPLETED
        return TaskPatch(  # the common end, built in one go (a result's hot path)
            status=self.target(task),
            progress_percent=100 if done else KEEP,
            output=_bounded(self.output),
            result=self.result,
            error_message=error,
            exit_code=self.exit_code,
            duration_ms=self.duration_ms,
            finished_at=now,
            updated_at=now,
        )

    def prerequisite(self, task: Task) -> Start | None:
        """A result implies the attempt ran, even if its `running` was never seen."""
        if task.status is TaskStatus.PENDING and task.attempt == self.attempt:
            return Start(self.agent_id, self.attempt)
        return None

    def replacement(self, task: Task) -> SettleCancel | None:
        """Cancelled while it ran: the result says how the cancel ended (decided in one step,
        from the holder only, like the result itself)."""
        if task.cancel_outcome is CancelOutcome.REQUESTED:
            return SettleCancel(self.attempt, self)
        return None


@attrs.frozen
class Retry(Change):
    """The agent running the attempt was lost; the loss policy runs the next attempt."""

    attempt: int
    kind: ClassVar[ChangeKind] = ChangeKind.RETRIED

    def target(self, task: Task | None) -> TaskStatus | None:
        return TaskStatus.PENDING

    def patch(self, task: Task | None, now: datetime, jitter: float = 0.5) -> TaskPatch:
        assert task is not None
        return _next_attempt(task, now, jitter) | TaskPatch(updated_at=now)


@attrs.frozen
class Fail(Change):
    """The task fails without an agent's result: its agent was lost for good. The attempt
    has no holder after it: the lost agent's late reports are refused (`reason` names it)."""

    attempt: int
    reason: str
    kind: ClassVar[ChangeKind] = ChangeKind.LOST

    def target(self, task: Task | None) -> TaskStatus | None:
        return TaskStatus.FAILED

    def patch(self, task: Task | None, now: datetime, jitter: float = 0.5) -> TaskPatch:
        return TaskPatch(
            status=TaskStatus.FAILED,
            agent_id=None,
            error_message=self.reason[:MAX_MESSAGE_CHARS],
            finished_at=now,
            updated_at=now,
        )


@attrs.frozen
class GiveUp(Fail):
    """The task fails because its work can never be sent to an agent (`attempt` is the one
    it is about, `reason` says why)."""

    kind: ClassVar[ChangeKind] = ChangeKind.GIVEN_UP


@attrs.frozen
class CancelTask(Change):
    """The caller cancelled the task; its agent (if any) is told to stop."""

    reason: str = "cancelled by caller"
    attempt: None = None
    kind: ClassVar[ChangeKind] = ChangeKind.CANCELLED

    def target(self, task: Task | None) -> TaskStatus | None:
        return TaskStatus.CANCELLED

    def stop_reason(self, task: Task) -> str:
        return self.reason

    def patch(self, task: Task | None, now: datetime, jitter: float = 0.5) -> TaskPatch:
        assert task is not None
        ran = task.status is TaskStatus.RUNNING
        outcome = CancelOutcome.REQUESTED if ran else CancelOutcome.NOT_STARTED
        return TaskPatch(
            status=TaskStatus.CANCELLED, cancel_outcome=outcome, finished_at=now, updated_at=now
        )


@attrs.frozen
class SettleCancel(Change):
    """The last word on a cancel that waited for its agent: the agent's result for the
    attempt (it stopped, or it had finished: too late, its result kept), or its loss."""

    attempt: int
    finish: Finish | None  # None: the agent was lost before it answered

    @property
    def kind(self) -> ChangeKind:
        if self.finish is None:
            return ChangeKind.CANCEL_UNCONFIRMED
        return ChangeKind.CANCEL_CONFIRMED

    def target(self, task: Task | None) -> TaskStatus | None:
        return None

    def sources(self, task: Task | None) -> frozenset[TaskStatus]:
        return lifecycle.CANCEL_CONFIRMABLE

    def refusal(self, task: Task) -> str | None:
        if task.cancel_outcome is not CancelOutcome.REQUESTED:
            return f"the cancel is settled already ({task.cancel_outcome})"
        return None

    def report(self) -> Report | None:
        """The agent's result, which only the attempt's holder may give."""
        return None if self.finish is None else self.finish.report()

    def reported_by(self) -> dict[str, Any] | None:
        return None if self.finish is None else self.finish.reported_by()

    def patch(self, task: Task | None, now: datetime, jitter: float = 0.5) -> TaskPatch:
        if self.finish is None:
            return TaskPatch(cancel_outcome=CancelOutcome.UNCONFIRMED, updated_at=now)
        if self.finish.outcome is ResultStatus.CANCELLED:
            return TaskPatch(cancel_outcome=CancelOutcome.STOPPED, updated_at=now)
        done = self.finish.patch(None, now, jitter)  # what the agent finished with, kept
        return TaskPatch(
            output=done.output,
            result=done.result,
            error_message=done.error_message,
            exit_code=done.exit_code,
            duration_ms=done.duration_ms,
            cancel_outcome=CancelOutcome.TOO_LATE,
            updated_at=now,
        )


@attrs.frozen
class TimeOut(Change):
    """The task's deadline passed. A running handler is told to stop; with `timed_out` in its
    retry policy (and attempts left), the task gets its next attempt and a new deadline."""

    attempt: None = None
    kind: ClassVar[ChangeKind] = ChangeKind.TIMED_OUT

    def target(self, task: Task | None) -> TaskStatus:
        return TaskStatus.PENDING if _retries_timeout(task) else TaskStatus.TIMED_OUT

    def stop_reason(self, task: Task) -> str | None:
        # A retried attempt's agent stops on its own when its time runs out: a cancel (by
        # task, not attempt) would also stop the next attempt.
        return None if _retries_timeout(task) else TaskStatus.TIMED_OUT.value

    def patch(self, task: Task | None, now: datetime, jitter: float = 0.5) -> TaskPatch:
        assert task is not None
        error = timeout_error(task.timeout_s)
        ended = TaskPatch(error_message=error, exit_code=TIMEOUT_EXIT_CODE, updated_at=now)
        if _retries_timeout(task):
            nxt = _next_attempt(task, now, jitter)
            start = nxt.next_attempt_at or now
            assert start is not KEEP
            deadline = start + timedelta(seconds=task.timeout_s or 0)
            retried = TaskPatch(
                error_message=f"attempt {task.attempt} {error}", deadline_at=deadline
            )
            return nxt | ended | retried
        return ended | TaskPatch(status=TaskStatus.TIMED_OUT, finished_at=now)


def _held(change: Progress | Finish, agent_id: UUID) -> ReportGuard:
    """The guard of a report written unread: only from the attempt's holder."""
    return ReportGuard(change.sources(None), change.attempt, agent_id)


def _said(agent_id: UUID, attempt: int) -> dict[str, Any]:
    return {"attempt": attempt, "agent_id": str(agent_id)}


def _retries_timeout(task: Task | None) -> bool:
    return task is not None and task.timeout_s is not None and retries(task, RetryOn.TIMED_OUT)


def _next_attempt(task: Task, now: datetime, jitter: float) -> TaskPatch:
    """The fields of a task made pending again for its next attempt."""
    return TaskPatch(
        status=TaskStatus.PENDING,
        attempt=task.attempt + 1,
        agent_id=None,
        started_at=None,
        progress_percent=None,
        progress_message=None,
        next_attempt_at=next_attempt_at(task, now, jitter),
    )


@attrs.frozen
class Accepted:
    """What a change makes of a task: the task as it will be stored, the patch of the fields
    that change, and its timeline entry."""

    task: Task
    patch: TaskPatch
    event: EventDraft
    causes_work: bool = False  # a next attempt: announced through the outbox, then its work


@attrs.frozen
class Refused:
    """Why a change does not apply to the task as it is (stale, duplicate, late, final).
    `foreign`: an agent's report that is not from the attempt's holder (recorded)."""

    reason: str
    foreign: Report | None = None


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
    report = change.report()
    if report is not None:
        why = attempt_holder.refusal(task, report, now)
        if why is not None:
            return Refused(why, report)
    if task.status not in change.sources(task):
        target = change.target(task)
        to = "an update" if target is None else target.value
        return Refused(f"{change.kind} not allowed: {task.status.value} to {to}")
    if change.attempt is not None and change.attempt != task.attempt:
        return Refused(f"{change.kind} of attempt {change.attempt}; the task is at {task.attempt}")
    refusal = change.refusal(task)
    if refusal is not None:
        return Refused(refusal)
    patch = change.patch(task, now, jitter)
    after = patch.applied_to(task)
    waiting = _waiting(task, after, due, now)
    if waiting is None:
        new = attrs.evolve(after, revision=task.revision + 1)
    else:
        patch = patch | waiting
        new = attrs.evolve(after, revision=task.revision + 1, **waiting.values())
    event = draft(change, patch, now, new.status)
    return Accepted(new, patch, event, new.attempt > task.attempt)


def _waiting(before: Task, after: Task, due: WaitingReason, now: datetime) -> TaskPatch | None:
    """The waiting fields that change with the task: set while pending, cleared after (None:
    they stay)."""
    reason, until = reason_for(after, due, now)
    if (reason, until) == (before.waiting_reason, before.waiting_until):
        return None
    return TaskPatch(waiting_reason=reason, waiting_until=until)


def refused(task: Task, report: Report, reason: str, now: datetime) -> Accepted:
    """The timeline entry of a refused report: the task's status and fields stay as they are
    (only its revision moves, as for every entry)."""
    changes = attempt_holder.refused_changes(report, reason)
    event = EventDraft(attempt_holder.REFUSED_KIND, now, task.status, changes)
    return Accepted(attrs.evolve(task, revision=task.revision + 1), TaskPatch(), event)


def draft(
    change: Change, patch: TaskPatch, now: datetime, status: TaskStatus | None = None
) -> EventDraft:
    """The timeline entry of `change` setting `patch`: its status is the task's after the
    change when the caller knows it (a settled cancel stays cancelled), else the one the
    patch sets, else the one state the change applies in (written unread, a change that
    keeps the status can only have found the task there)."""
    if status is None:
        status = _only(change.sources(None)) if patch.status is KEEP else patch.status
    changes = json_fields(patch.values())
    reporter = change.reported_by()
    if reporter is not None:
        changes["reported_by"] = reporter
    return EventDraft(change.kind, now, status, changes)


def _only(states: frozenset[TaskStatus]) -> TaskStatus:
    (state,) = states  # an update that keeps the status applies in one state (UPDATABLE)
    return state


def dispatched(task: Task) -> EventDraft:
    """Revision 1: every field but the parameters, so a fold of the timeline starts whole."""
    fields = json_fields_of(_LOGGED, _logged_values(task))
    return EventDraft(ChangeKind.DISPATCHED, task.created_at, task.status, fields)


# A task's fields but its parameters, read at once (attrs.asdict is several times slower).
_LOGGED: Final = tuple(f.name for f in attrs.fields(Task) if f.name != "parameters")
_logged_values = operator.attrgetter(*_LOGGED)


def _bounded(output: str | None) -> str | None:
    if output is None or len(output) <= MAX_OUTPUT_CHARS:
        return output
    return output[-MAX_OUTPUT_CHARS:]
