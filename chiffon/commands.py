"""What a caller asks of the orchestrator, validated by the domain's own rules."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Final
from uuid import UUID

import attrs

from chiffon.concurrency import ConcurrencyLimit, limit_of
from chiffon.config import MAX_PARAMETERS_BYTES, MAX_TIMEOUT_S
from chiffon.errors import InvalidRequest, PayloadTooLarge
from chiffon.json_values import JsonRejected, check, same_json
from chiffon.model import (
    MAX_ATTEMPTS_DEFAULT,
    PRIORITY_DEFAULT,
    PRIORITY_MAX,
    PRIORITY_MIN,
    JsonObject,
    NoAgentPolicy,
    RetryOn,
    Task,
)
from chiffon.retry_policy import DEFAULT_BACKOFF_MAX_S, MAX_ATTEMPTS_LIMIT, MAX_BACKOFF_S

MAX_DELAY_S: Final = 365 * 24 * 3600
MAX_DELAY: Final = timedelta(seconds=MAX_DELAY_S)


@attrs.frozen
class Bounds:
    """The range a number of a dispatch must fall in, said once: the domain checks it here
    and the HTTP schema (and so its fast path and the OpenAPI document) is built from it."""

    low: float
    high: float
    low_open: bool = False  # True: `low` itself is refused

    def __contains__(self, value: float) -> bool:
        above = self.low < value if self.low_open else self.low <= value
        return above and value <= self.high


PRIORITY: Final = Bounds(PRIORITY_MIN, PRIORITY_MAX)
TIMEOUT_S: Final = Bounds(0, MAX_TIMEOUT_S, low_open=True)
DELAY_S: Final = Bounds(0, MAX_DELAY_S, low_open=True)
MAX_ATTEMPTS: Final = Bounds(1, MAX_ATTEMPTS_LIMIT)
BACKOFF_S: Final = Bounds(0, MAX_BACKOFF_S)


@attrs.frozen
class RetryRequest:
    """A dispatch's retry policy; the defaults are the behaviour without one."""

    max_attempts: int = MAX_ATTEMPTS_DEFAULT
    backoff_s: float = 0.0
    backoff_max_s: float | None = None  # default: max(backoff_s, 300 s)
    on: tuple[RetryOn, ...] = (RetryOn.LOST,)

    def problems(self) -> list[str]:
        found = []
        if self.max_attempts not in MAX_ATTEMPTS:
            found.append(f"max_attempts must be between 1 and {MAX_ATTEMPTS_LIMIT}")
        if self.backoff_s not in BACKOFF_S:
            found.append(f"backoff_s must be at least 0 and at most {MAX_BACKOFF_S:g}")
        if self.backoff_max_s is not None and not (
            self.backoff_s <= self.backoff_max_s <= MAX_BACKOFF_S
        ):
            found.append(f"backoff_max_s must be at least backoff_s, at most {MAX_BACKOFF_S:g}")
        return found

    @property
    def max_backoff_s(self) -> float:
        if self.backoff_max_s is not None:
            return self.backoff_max_s
        return max(self.backoff_s, DEFAULT_BACKOFF_MAX_S) if self.backoff_s else 0.0


@attrs.frozen
class Correlation:
    """Ids the caller sent beside the request (HTTP's X-Trace-Id and X-Request-Id): the task
    takes them when the request itself names none, and a repeated dispatch is never compared
    on them (a retried call may carry new ones)."""

    trace_id: UUID | None = None
    request_id: UUID | None = None


@attrs.frozen
class DispatchCommand:
    task_id: UUID
    work_type: str
    parameters: JsonObject = attrs.Factory(dict)
    priority: int = PRIORITY_DEFAULT
    timeout_s: float | None = None
    trace_id: UUID | None = None
    on_no_agent: NoAgentPolicy = NoAgentPolicy.QUEUE
    retry: RetryRequest = attrs.Factory(RetryRequest)
    not_before: datetime | None = None
    delay_s: float | None = None
    request_id: UUID | None = None
    correlation: Correlation = attrs.Factory(Correlation)
    rerun_of: UUID | None = None
    schedule_id: UUID | None = None  # set by the scheduler, never by a caller
    scheduled_at: datetime | None = None
    concurrency: ConcurrencyLimit | None = None

    @property
    def chosen_trace_id(self) -> UUID | None:
        """The trace id the caller chose: the request's own, else the one sent beside it."""
        return self.trace_id or self.correlation.trace_id

    @property
    def chosen_request_id(self) -> UUID | None:
        return self.request_id or self.correlation.request_id

    def validate(self, now: datetime) -> None:
        """Raise InvalidRequest / PayloadTooLarge naming the failing field."""
        problems: dict[str, list[str]] = {}
        if not self.work_type.strip():
            problems["work_type"] = ["must not be empty"]
        if self.priority not in PRIORITY:
            problems["priority"] = [f"must be between {PRIORITY_MIN} and {PRIORITY_MAX}"]
        if self.timeout_s is not None and self.timeout_s not in TIMEOUT_S:
            problems["timeout_s"] = [f"must be greater than 0 and at most {MAX_TIMEOUT_S:g}"]
        if self.retry.problems():
            problems["retry"] = self.retry.problems()
        if self.concurrency is not None and self.concurrency.problems():
            problems["concurrency"] = self.concurrency.problems()
        problems.update(self._start_problems(now))
        # Measured first (C speed): parameters too large to keep are not walked at all.
        size = _json_size(self.parameters)
        try:
            if size is None or size <= MAX_PARAMETERS_BYTES:
                check(self.parameters, path="parameters")
        except JsonRejected as exc:
            problems["parameters"] = [str(exc)]
        if problems:
            raise InvalidRequest(f"invalid request: {', '.join(sorted(problems))}", problems)
        if size is not None and size > MAX_PARAMETERS_BYTES:
            raise PayloadTooLarge(
                f"parameters are {size} bytes; the limit is {MAX_PARAMETERS_BYTES}",
                {"parameters": [f"at most {MAX_PARAMETERS_BYTES} bytes of JSON"]},
            )

    def _start_problems(self, now: datetime) -> dict[str, list[str]]:
        if self.not_before is not None and self.delay_s is not None:
            return {"delay_s": ["give not_before or delay_s, not both"]}
        if self.delay_s is not None and self.delay_s not in DELAY_S:
            return {"delay_s": ["must be greater than 0 and at most a year (31536000)"]}
        if self.not_before is not None:
            if self.not_before.tzinfo is None:
                return {"not_before": ["must carry a UTC offset (e.g. 2027-01-01T09:00:00+00:00)"]}
            if self.not_before - now > MAX_DELAY:
                return {"not_before": ["must be at most a year away"]}
        return {}

    def start_at(self, now: datetime) -> datetime | None:
        """When the first attempt may start, if later than now."""
        if self.delay_s is not None:
            return now + timedelta(seconds=self.delay_s)
        if self.not_before is not None and self.not_before > now:
            return self.not_before
        return None

    def matches(self, task: Task) -> bool:
        """True when `task` was stored from this same request (idempotent re-dispatch). A
        relative delay_s is not compared: the same request later means a later time."""
        r = self.retry
        same_retry = (
            task.max_attempts == r.max_attempts
            and task.retry_on == tuple(sorted(set(r.on)))
            and task.retry_backoff_s == r.backoff_s
            and task.retry_backoff_max_s == r.max_backoff_s
        )
        same_start = self.not_before is None or task.not_before == self.not_before
        return (
            task.work_type == self.work_type
            and same_json(task.parameters, self.parameters)
            and task.priority == self.priority
            and task.timeout_s == (None if self.timeout_s is None else float(self.timeout_s))
            and (self.trace_id is None or self.trace_id == task.trace_id)
            and (self.request_id is None or self.request_id == task.request_id)
            and same_retry
            and same_start
            and task.rerun_of == self.rerun_of
            and task.schedule_id == self.schedule_id
            and limit_of(task) == self.concurrency
        )


def rerun_command(original: Task, task_id: UUID) -> DispatchCommand:
    """The same work with the same policies (priority, timeout, retry, concurrency limit), in
    the same trace, as a new task that starts now and says which task it reruns."""
    retry = RetryRequest(
        max_attempts=original.max_attempts,
        backoff_s=original.retry_backoff_s,
        backoff_max_s=original.retry_backoff_max_s,
        on=original.retry_on,
    )
    return DispatchCommand(
        task_id=task_id,
        work_type=original.work_type,
        parameters=original.parameters,
        priority=original.priority,
        timeout_s=original.timeout_s,
        trace_id=original.trace_id,
        retry=retry,
        rerun_of=original.task_id,
        concurrency=limit_of(original),
    )


_COMPACT: Final = json.JSONEncoder(separators=(",", ":"))  # made once: json.dumps with
# arguments makes an encoder on every call, and every dispatch is measured


def _json_size(value: object) -> int | None:
    """Bytes of compact JSON (as text), or None for what is not JSON (check says why)."""
    try:
        return len(_COMPACT.encode(value))
    except (TypeError, ValueError, RecursionError):
        return None
