"""Domain values: tasks, agents and the messages that move between orchestrator and agents."""

from __future__ import annotations

import enum
import functools
from datetime import datetime
from typing import Any
from uuid import UUID

import attrs

JsonObject = dict[str, Any]

PRIORITY_MIN = 1
PRIORITY_MAX = 5
PRIORITY_DEFAULT = 3
MAX_ATTEMPTS_DEFAULT = 3


class TaskStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"


class AgentStatus(enum.StrEnum):
    ONLINE = "online"
    BUSY = "busy"
    OFFLINE = "offline"


class ResultStatus(enum.StrEnum):
    """What an agent reports at the end of one attempt."""

    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"  # the agent's own timer ended the handler (timeout_s)


class NoAgentPolicy(enum.StrEnum):
    """What dispatch does when no live agent of the routed type exists."""

    QUEUE = "queue"  # store it; it runs when one comes
    REJECT = "reject"  # refuse it at once (nothing stored)


class RetryOn(enum.StrEnum):
    """Which ends of an attempt a task's retry policy retries."""

    LOST = "lost"  # its agent was lost
    FAILED = "failed"  # the handler failed (and did not say it must not be retried)
    TIMED_OUT = "timed_out"  # its deadline passed (timeout_s then applies to each attempt)


class CancelOutcome(enum.StrEnum):
    """How a cancel ended, as far as chiffon knows."""

    NOT_STARTED = "not_started"  # it was pending: no handler ran
    REQUESTED = "requested"  # it was running: the agent was told, its answer is awaited
    STOPPED = "stopped"  # the agent confirmed the handler stopped
    TOO_LATE = "too_late"  # the agent had already finished: its result is kept
    UNCONFIRMED = "unconfirmed"  # the agent was lost before it answered


class WaitingReason(enum.StrEnum):
    """Why a pending task is not running yet."""

    SCHEDULED = "scheduled"  # its start time has not come (waiting_until)
    RETRY_BACKOFF = "retry_backoff"  # waiting before its next attempt (waiting_until)
    NO_AGENT = "no_agent"  # no live agent of its agent type
    AGENTS_BUSY = "agents_busy"  # every live agent of its type runs all it can
    QUEUED = "queued"  # capacity exists: it is on its way to an agent


class LossPolicy(enum.StrEnum):
    """What happens to a running task whose agent is lost."""

    RETRY = "retry"
    FAIL = "fail"


def _retry_on(values: Any) -> tuple[RetryOn, ...]:
    """Stored as a JSON list: kept as a sorted tuple of RetryOn, so copies compare equal."""
    try:
        return _canonical_retry_on(tuple(values))
    except TypeError:  # unhashable values: RetryOn refuses them the same way
        return tuple(sorted({RetryOn(v) for v in values}))


@functools.lru_cache(maxsize=256)  # every copy of a task runs this: a handful of distinct values
def _canonical_retry_on(values: tuple[Any, ...]) -> tuple[RetryOn, ...]:
    return tuple(sorted({RetryOn(v) for v in values}))


@attrs.frozen
class Task:
    """One unit of work as the orchestrator records it."""

    task_id: UUID
    request_id: UUID
    trace_id: UUID
    work_type: str
    agent_type: str
    priority: int
    parameters: JsonObject
    status: TaskStatus
    created_at: datetime
    updated_at: datetime
    revision: int = 1  # 1 when created, +1 on every stored change
    attempt: int = 1
    max_attempts: int = MAX_ATTEMPTS_DEFAULT
    retry_on: tuple[RetryOn, ...] = attrs.field(default=(RetryOn.LOST,), converter=_retry_on)
    retry_backoff_s: float = 0.0  # the wait before attempt 2, doubled for each next one
    retry_backoff_max_s: float = 0.0  # ... up to this
    not_before: datetime | None = None  # the dispatch asked for no start before this
    next_attempt_at: datetime | None = None  # when this pending attempt's work is sent
    timeout_s: float | None = None
    deadline_at: datetime | None = None
    progress_percent: int | None = None
    progress_message: str | None = None
    output: str | None = None
    result: Any = None
    error_message: str | None = None
    exit_code: int | None = None
    duration_ms: int | None = None
    agent_id: UUID | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # why a pending task is not running yet, and until when (scheduled, retry_backoff)
    waiting_reason: WaitingReason | None = attrs.field(
        default=None, converter=attrs.converters.optional(WaitingReason)
    )
    waiting_until: datetime | None = None
    cancel_outcome: CancelOutcome | None = attrs.field(
        default=None, converter=attrs.converters.optional(CancelOutcome)
    )
    rerun_of: UUID | None = None  # the task this one reruns (POST /api/v1/tasks/{id}/rerun)
    schedule_id: UUID | None = None  # the schedule that fired it ...
    scheduled_at: datetime | None = None  # ... for this scheduled time


@attrs.frozen
class TaskEvent:
    """One entry of a task's timeline: what one stored change did. `changes` holds every
    field the change set, as JSON values (revision 1, `dispatched`, holds them all but the
    parameters), so folding a task's events in order gives its state at any revision."""

    task_id: UUID
    revision: int
    at: datetime
    kind: str
    status: TaskStatus
    changes: JsonObject


class ChangeKind(enum.StrEnum):
    """What happened to a task: the kind of its timeline entry, and of the event announced
    after it (a timeline read back may also hold kinds of older versions)."""

    DISPATCHED = "dispatched"
    STARTED = "started"
    PROGRESS = "progress"
    FINISHED = "finished"  # the agent's result (the task may be pending again: a retry)
    RETRIED = "retried"  # its agent was lost; the next attempt
    LOST = "lost"  # its agent was lost for good: failed
    GIVEN_UP = "given_up"  # its work can never be sent: failed
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"  # (or pending again, when time-outs are retried)
    CANCEL_CONFIRMED = "cancel_confirmed"  # the agent's last word on a cancel
    CANCEL_UNCONFIRMED = "cancel_unconfirmed"  # its agent was lost before that word
    WAITING = "waiting"  # a pending task's waiting reason changed
    REPORT_REFUSED = "report_refused"  # an agent's report not applied (status unchanged)


# The changes that can take a task to a final status (the others change a final task at most
# in its details: how its cancel ended, a refused report).
ENDINGS: frozenset[ChangeKind] = frozenset(
    {
        ChangeKind.FINISHED,
        ChangeKind.LOST,
        ChangeKind.GIVEN_UP,
        ChangeKind.CANCELLED,
        ChangeKind.TIMED_OUT,
    }
)


@attrs.frozen
class EventDraft:
    """A timeline entry before the store gives it its revision."""

    kind: str
    at: datetime
    status: TaskStatus
    changes: JsonObject

    def numbered(self, task_id: UUID, revision: int) -> TaskEvent:
        return TaskEvent(task_id, revision, self.at, self.kind, self.status, self.changes)


@attrs.frozen
class Agent:
    """An agent as the registry knows it from its heartbeats."""

    agent_id: UUID
    agent_type: str
    status: AgentStatus
    capabilities: tuple[str, ...]
    max_concurrency: int
    running_tasks: tuple[UUID, ...]
    resources: JsonObject
    last_heartbeat_at: datetime


@attrs.frozen
class WorkRequest:
    """The work message an agent receives: one attempt of one task."""

    task_id: UUID
    request_id: UUID
    trace_id: UUID
    work_type: str
    agent_type: str
    parameters: JsonObject
    priority: int
    attempt: int
    timeout_s: float | None = None
    hints: JsonObject = attrs.Factory(dict)
    lease: str = ""  # this attempt's lease token: every report on it must carry it back


@attrs.frozen
class StatusUpdate:
    """An agent's `work_status`: the attempt started running, or made progress."""

    task_id: UUID
    agent_id: UUID
    attempt: int
    running: bool = False
    progress_percent: int | None = None
    message: str | None = None
    lease: str = ""  # the WorkRequest's lease token (chiffon.credentials)


@attrs.frozen
class WorkResult:
    """The end of one attempt as the agent saw it."""

    task_id: UUID
    request_id: UUID
    agent_id: UUID
    attempt: int
    status: ResultStatus
    output: str | None = None
    result: Any = None
    error_message: str | None = None
    exit_code: int | None = None
    duration_ms: int | None = None
    resources_used: JsonObject = attrs.Factory(dict)
    retryable: bool = True  # False: the handler says another attempt would not help
    lease: str = ""  # the WorkRequest's lease token (chiffon.credentials)


@attrs.frozen
class Heartbeat:
    """An agent announcing itself, its load and its resources (or leaving, with goodbye)."""

    agent_id: UUID
    agent_type: str
    status: AgentStatus
    capabilities: tuple[str, ...]
    max_concurrency: int
    running_tasks: tuple[UUID, ...]
    resources: JsonObject
    goodbye: bool = False
    agent_key: str = ""  # the secret the agent_id is derived from (chiffon.credentials)


@attrs.frozen
class Cancel:
    """Tells the agent running a task (any attempt) to stop it; with `agent_id` and
    `attempt`, only that agent's run of that attempt (one it does not hold: the task goes on
    elsewhere)."""

    task_id: UUID
    reason: str = "cancelled"
    agent_id: UUID | None = None
    attempt: int | None = None


AgentMessage = StatusUpdate | WorkResult | Heartbeat


@attrs.frozen
class TaskAnnouncement:
    """A task's new state, to be announced (live push) through the outbox just before the work
    it causes is published, so every replica hears `pending` before any `running`. `change`:
    what made it pending (its dispatch, or a change that gave it its next attempt)."""

    task: Task
    change: ChangeKind = ChangeKind.DISPATCHED


OutboxPayload = WorkRequest | Cancel | TaskAnnouncement


@attrs.frozen
class OutboxMessage:
    """A message recorded in the same transaction as the state change that caused it;
    with `not_before`, it is not sent before then (a delayed start, a retry's backoff)."""

    message_id: UUID
    payload: OutboxPayload
    created_at: datetime
    not_before: datetime | None = None
