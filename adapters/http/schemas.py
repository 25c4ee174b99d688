"""marshmallow schemas of the HTTP API: they validate input and document it (aiohttp-apispec)."""

from __future__ import annotations

from typing import Any, Final, TypeVar

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from adapters.http.model_schema import model_schema
from chiffon.commands import BACKOFF_S, DELAY_S, MAX_ATTEMPTS, PRIORITY, TIMEOUT_S, Bounds
from chiffon.config import MAX_TIMEOUT_S, MAX_WORK_TYPE_CHARS
from chiffon.model import (
    MAX_ATTEMPTS_DEFAULT,
    PRIORITY_DEFAULT,
    AgentStatus,
    CancelOutcome,
    NoAgentPolicy,
    RetryOn,
    Task,
    TaskStatus,
    WaitingReason,
)
from chiffon.routing import RouteSource

TASK_STATUSES = [s.value for s in TaskStatus]
WAITING_REASONS = [r.value for r in WaitingReason]
CANCEL_OUTCOMES = [o.value for o in CancelOutcome]
AGENT_STATUSES = [s.value for s in AgentStatus]
ROUTE_SOURCES = [s.value for s in RouteSource]


class StrictNumber(fields.Float):
    """A JSON number; unlike fields.Float it refuses strings and booleans."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError("Not a valid number.")
        result: float = super()._deserialize(value, attr, data, **kwargs)
        return result


NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f-\x9f]*$"


class SafeString(fields.String):
    """Text that every store can keep and every log can show: no NUL or other control
    characters, no lone surrogates (a query string is not checked by the JSON decoder). The
    OpenAPI document carries the same rule as a pattern."""

    def __init__(self, *, max_length: int = MAX_WORK_TYPE_CHARS, **kwargs: Any) -> None:
        checks = [
            validate.Length(min=1, max=max_length),
            validate.Regexp(NO_CONTROL_CHARACTERS, error="Must not contain control characters."),
        ]
        super().__init__(validate=checks, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text: str = super()._deserialize(value, attr, data, **kwargs)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError("Not valid UTF-8.") from None
        return text


def _name(description: str) -> SafeString:
    return SafeString(metadata={"description": description})


def within(bounds: Bounds) -> validate.Range:
    """marshmallow's check of a domain bound: the schema's error message and the OpenAPI
    minimum/maximum come from the bound the domain checks (chiffon.commands)."""
    return validate.Range(min=bounds.low, max=bounds.high, min_inclusive=not bounds.low_open)


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


SchemaClass = TypeVar("SchemaClass", bound=type[Schema])


def always_sent(schema: SchemaClass) -> SchemaClass:
    """An answer's shape: the server sends every field, null when it has no value, so each is
    documented as required (generated clients then type it `X | None`, not "maybe absent")."""
    for field in schema._declared_fields.values():
        field.required = True
    return schema


class RetrySchema(StrictSchema):
    max_attempts = fields.Integer(
        strict=True,
        load_default=MAX_ATTEMPTS_DEFAULT,
        validate=within(MAX_ATTEMPTS),
        metadata={"description": "Attempts in all, the first included (default 3)."},
    )
    backoff_s = StrictNumber(
        load_default=0.0,
        validate=within(BACKOFF_S),
        metadata={
            "description": "Wait before attempt 2, doubled for each next one (default 0: none)."
        },
    )
    backoff_max_s = StrictNumber(
        load_default=None,
        allow_none=True,
        validate=within(BACKOFF_S),
        metadata={"description": "The longest wait (at least backoff_s; default 300)."},
    )
    on = fields.List(
        fields.Enum(RetryOn, by_value=True),
        load_default=lambda: [RetryOn.LOST],
        validate=validate.Length(max=len(RetryOn)),
        metadata={
            "description": "Which ends are retried: lost, failed, timed_out (default: lost)."
        },
    )


class DispatchRequestSchema(StrictSchema):
    task_id = fields.UUID(required=True, metadata={"description": "Caller-chosen id (UUID)."})
    work_type = SafeString(
        required=True,
        metadata={"description": "What to do; routed to an agent type (e.g. echo, sleep)."},
    )
    parameters = fields.Dict(
        keys=fields.String(),
        load_default=dict,
        metadata={
            "description": "JSON object handed to the handler (at most 256 KiB, nested at most "
            "64 levels, integers within 64 bits, no NaN/Infinity, no NUL in strings)."
        },
    )
    priority = fields.Integer(
        strict=True,
        load_default=PRIORITY_DEFAULT,
        validate=within(PRIORITY),
        metadata={"description": "1 (background) to 5 (critical); higher is delivered first."},
    )
    timeout_s = StrictNumber(
        load_default=None,
        allow_none=True,
        validate=within(TIMEOUT_S),
        metadata={
            "description": "Seconds from dispatch after which the task is timed_out "
            f"(more than 0, at most {MAX_TIMEOUT_S:.0f}: 30 days).",
            "exclusiveMinimum": True,
        },
    )
    trace_id = fields.UUID(
        load_default=None,
        allow_none=True,
        metadata={
            "description": "Correlation id to reuse (default: the X-Trace-Id header, else a "
            "new one)."
        },
    )
    request_id = fields.UUID(
        load_default=None,
        allow_none=True,
        metadata={
            "description": "This dispatch request's id (default: the X-Request-Id header, else "
            "a new one); one request_id names one task (another task_id with it is 409/1003)."
        },
    )
    retry = fields.Nested(
        RetrySchema,
        load_default=None,
        metadata={
            "description": "The retry policy: max_attempts 1..20, backoff_s, backoff_max_s, "
            "on. Without it: 3 attempts, a lost agent only, no wait."
        },
    )
    not_before = fields.AwareDateTime(
        load_default=None,
        allow_none=True,
        metadata={"description": "Start no earlier than this (ISO 8601 with an offset; at "
                  "most a year away). The work is not sent before then."},
    )  # fmt: skip
    delay_s = StrictNumber(
        load_default=None,
        allow_none=True,
        validate=within(DELAY_S),
        metadata={"description": "Start this many seconds from now (instead of not_before).",
                  "exclusiveMinimum": True},
    )  # fmt: skip
    on_no_agent = fields.Enum(
        NoAgentPolicy,
        by_value=True,
        load_default=NoAgentPolicy.QUEUE,
        metadata={
            "description": "queue (default): store it, it runs when an agent comes; reject: "
            "refuse it at once with 409/3001 when no live agent of the routed type exists."
        },
    )


@always_sent
class DispatchResponseSchema(Schema):
    task_id = fields.UUID(required=True)
    trace_id = fields.UUID(required=True)
    request_id = fields.UUID(required=True)
    status = fields.String(required=True, metadata={"example": "pending"})
    not_before = fields.DateTime(
        allow_none=True,
        metadata={"description": "When the first attempt may start (null: right away)."},
    )


TASK_DESCRIPTIONS: Final = {
    "result": "The handler's JSON result.",
    "revision": "1 when created, +1 on every stored change (see /events).",
    "next_attempt_at": "When this pending attempt's work is sent (delayed start, retry "
    "backoff); null: at once.",
    "waiting_reason": "Why a pending task is not running yet (null otherwise): scheduled, "
    "retry_backoff (both until waiting_until), no_agent, agents_busy, queued.",
    "cancel_outcome": "How a cancel ended: not_started, requested (the agent's answer is "
    "awaited), stopped, too_late (its result is kept), unconfirmed.",
    "rerun_of": "The task this one reruns (POST /api/v1/tasks/{id}/rerun).",
    "schedule_id": "The schedule that fired this task.",
    "scheduled_at": "The time the schedule fired it for (it may start later).",
}
# The task as the API shows it: its shape is the model's (chiffon/model.py), field by field.
TaskSchema: Final = always_sent(model_schema(Task, TASK_DESCRIPTIONS))


@always_sent
class TaskEventSchema(Schema):
    task_id = fields.UUID(required=True)
    revision = fields.Integer(required=True)
    at = fields.DateTime(required=True)
    kind = fields.String(
        required=True,
        metadata={
            "description": "dispatched, started, progress, finished, retried, lost, "
            "cancelled, timed_out, given_up (imported: a task stored before timelines)"
        },
    )
    status = fields.String(required=True, validate=validate.OneOf(TASK_STATUSES))
    changes = fields.Dict(
        required=True,
        metadata={"description": "Every field the change set, with its new value."},
    )


@always_sent
class TaskEventPageSchema(Schema):
    items = fields.List(fields.Nested(TaskEventSchema), required=True)
    revision = fields.Integer(
        required=True, metadata={"description": "The task's revision when this was read."}
    )
    next_after = fields.Integer(
        allow_none=True,
        required=True,
        metadata={"description": "Pass as `after` for the next page; null at the end."},
    )


class EventQuerySchema(StrictSchema):
    after = fields.Integer(
        load_default=0,
        validate=validate.Range(min=0, max=2**31 - 1),
        metadata={"description": "Only changes with a revision above this."},
    )
    limit = fields.Integer(load_default=500, validate=validate.Range(1, 1000))


@always_sent
class TaskPageSchema(Schema):
    items = fields.List(fields.Nested(TaskSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class IdPrefix(fields.String):
    """The first hex digits of a task id, dashes anywhere (as copied from a UUID or a short id
    column); loaded as lowercase hex without dashes."""

    def __init__(self, **kwargs: Any) -> None:
        pattern = validate.Regexp(r"^[0-9a-fA-F-]{1,36}$", error="Must be hex digits and dashes.")
        super().__init__(validate=pattern, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text: str = super()._deserialize(value, attr, data, **kwargs)
        digits = text.replace("-", "").lower()
        if not 1 <= len(digits) <= 32:
            raise ValidationError("Must hold 1 to 32 hex digits.")
        return digits


class TaskQuerySchema(StrictSchema):
    status = fields.String(validate=validate.OneOf(TASK_STATUSES))
    waiting_reason = fields.String(validate=validate.OneOf(WAITING_REASONS))
    work_type = _name("Only tasks of this work type.")
    agent_type = _name("Only tasks routed to this agent type.")
    trace_id = fields.UUID()
    id = IdPrefix(
        metadata={"description": "Tasks whose id starts with these hex digits (dashes ignored)."}
    )
    agent = fields.UUID(metadata={"description": "Only tasks this agent ran or runs."})
    schedule_id = fields.UUID(metadata={"description": "Only tasks this schedule fired."})
    created_after = fields.AwareDateTime(
        metadata={"description": "Created at or after this time (ISO 8601 with offset)."}
    )
    created_before = fields.AwareDateTime(
        metadata={"description": "Created before this time (ISO 8601 with offset)."}
    )
    q = SafeString(
        max_length=200,
        metadata={
            "description": "Text in the task's parameters, result (as JSON) or error message; "
            "case-insensitive substring."
        },
    )
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    cursor = SafeString(max_length=200, metadata={"description": "next_cursor of a page."})


@always_sent
class AgentSchema(Schema):
    agent_id = fields.UUID(required=True)
    agent_type = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(AGENT_STATUSES))
    capabilities = fields.List(fields.String(), required=True)
    max_concurrency = fields.Integer(required=True)
    running_tasks = fields.List(fields.UUID(), required=True)
    resources = fields.Dict(required=True)
    last_heartbeat_at = fields.DateTime(required=True)


@always_sent
class WorkTypeSchema(Schema):
    work_type = fields.String(required=True, metadata={"example": "sleep"})
    agent_type = fields.String(required=True, metadata={"example": "demo"})
    source = fields.String(
        required=True,
        validate=validate.OneOf(ROUTE_SOURCES),
        metadata={"description": "table: the routing table; advertised: a live agent's heartbeat."},
    )


class AgentQuerySchema(StrictSchema):
    agent_type = _name("Only agents of this type.")
    status = fields.String(validate=validate.OneOf(AGENT_STATUSES))


class TaskIdPathSchema(Schema):
    task_id = fields.UUID(required=True)


class RerunRequestSchema(StrictSchema):
    task_id = fields.UUID(
        metadata={"description": "The new task's id (default: a fresh one). Sent again, the "
                  "same rerun answers the same task: a retried call makes no second task."},
    )  # fmt: skip


@always_sent
class RerunResponseSchema(Schema):
    task_id = fields.UUID(required=True)
    trace_id = fields.UUID(required=True)
    request_id = fields.UUID(required=True)
    status = fields.String(required=True, metadata={"example": "pending"})
    rerun_of = fields.UUID(required=True)


@always_sent
class CancelResponseSchema(Schema):
    task_id = fields.UUID(required=True)
    status = fields.String(required=True, metadata={"example": "cancelled"})
    cancel_outcome = fields.String(
        required=True,
        validate=validate.OneOf(CANCEL_OUTCOMES),
        metadata={"description": "not_started (it was pending) or requested (it was running: "
                  "the final outcome reaches GET status, the timeline and the WebSocket)."},
    )  # fmt: skip


ERROR_CODES = (
    "1000 invalid request (a field, filter, cursor, id or body), 1001 unknown work_type, "
    "1003 task_id or request_id already used by another request, 1004 too large, "
    "1005 not application/json, 1006 too slow, 2001 task not found, 2002 not cancellable "
    "(already finished), 3001 no live agent (on_no_agent: reject), 4010 missing or wrong "
    "bearer token, 4030 forbidden origin, 4031 foreign Host (no token set), 4290 too many "
    "connections, 4291 too many wrong tokens (Retry-After), "
    "5000 internal error, 5030 store or bus unavailable"
)


@always_sent
class ErrorSchema(Schema):
    error_code = fields.Integer(
        required=True, metadata={"example": 1000, "description": f"Stable code: {ERROR_CODES}."}
    )
    error_message = fields.String(required=True, metadata={"description": "For people."})
    trace_id = fields.String(
        allow_none=True, metadata={"description": "The call's trace id (as in X-Trace-Id)."}
    )
    details = fields.Raw(
        allow_none=True,
        metadata={"description": "What was wrong, when known: usually field -> [messages]."},
    )


@always_sent
class HealthSchema(Schema):
    status = fields.String(required=True)
    checks = fields.Dict(keys=fields.String(), values=fields.String())


class AuditQuerySchema(StrictSchema):
    since = fields.AwareDateTime(
        metadata={"description": "Only tasks created at or after this time (ISO 8601 with offset)."}
    )
    trace_id = fields.UUID(metadata={"description": "Only the tasks of this trace."})
    settled = fields.Boolean(
        load_default=False,
        metadata={"description": "Every task checked must have ended (a run that is over)."},
    )


@always_sent
class ViolationSchema(Schema):
    task_id = fields.UUID()
    rule = fields.String(
        metadata={
            "description": "revisions, one_terminal_state, lifecycle, timeline, max_attempts, "
            "report_holder, one_runner, cancel_outcome, waiting_reason, lost_agent, unfinished"
        }
    )
    revisions = fields.List(
        fields.Integer(), metadata={"description": "The timeline revisions involved."}
    )
    message = fields.String(metadata={"description": "What went wrong, in a sentence."})


@always_sent
class AuditReportSchema(Schema):
    at = fields.DateTime(metadata={"description": "When the history was read."})
    tasks_checked = fields.Integer()
    violations = fields.List(fields.Nested(ViolationSchema))


class Duration(fields.Field[int]):
    """Seconds as a whole number (`3600`) or with a unit: `90s`, `15m`, `1h`, `7d`."""

    UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        text = str(value).strip().lower()
        unit = self.UNITS.get(text[-1:], 0) if text else 0
        number = text[:-1] if unit else text
        if not number.isdigit() or len(number) > 9:
            raise ValidationError("Must be seconds (3600) or a number and s, m, h or d (1h).")
        return int(number) * (unit or 1)


class StatsQuerySchema(StrictSchema):
    window = Duration(
        load_default=3600,
        metadata={
            "type": "string",
            "default": "1h",
            "example": "1h",
            "description": "How far back: 1 s .. 7 d (default 1h).",
        },
    )
    step = Duration(
        load_default=60,
        metadata={
            "type": "string",
            "default": "1m",
            "example": "1m",
            "description": "Interval length: 1 s .. 1 d, at most 500 intervals in the window.",
        },
    )


@always_sent
class StatsIntervalSchema(Schema):
    start = fields.DateTime(required=True)
    dispatched = fields.Integer(required=True)
    completed = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    timed_out = fields.Integer(required=True)
    cancelled = fields.Integer(required=True)
    p50_ms = fields.Float(allow_none=True, metadata={"description": "Median duration_ms."})
    p95_ms = fields.Float(allow_none=True)


@always_sent
class StatsSchema(Schema):
    window_s = fields.Integer(required=True)
    step_s = fields.Integer(required=True)
    start = fields.DateTime(required=True, metadata={"description": "The first interval's start."})
    end = fields.DateTime(required=True, metadata={"description": "The last interval's end."})
    intervals = fields.List(fields.Nested(StatsIntervalSchema), required=True)
    queue_depth = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.Integer()),
        required=True,
        metadata={"description": "agent_type -> pending tasks at each interval's end."},
    )
    pending_now = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
