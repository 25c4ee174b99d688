"""marshmallow schemas of /api/v1/schedules (for aiohttp-apispec and strict loading)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from adapters.http.schemas import (
    ConcurrencySchema,
    DispatchRequestSchema,
    RetrySchema,
    SafeString,
    StrictNumber,
    StrictSchema,
    TaskSchema,
    always_sent,
)
from chiffon.schedules import CatchUp, Overlap

_WORK = DispatchRequestSchema._declared_fields


class ScheduleRequestSchema(StrictSchema):
    cron = SafeString(
        load_default=None,
        allow_none=True,
        metadata={"description": "Five fields (minute hour day month weekday) or a macro "
                  "(@hourly, @daily, ...), read in `timezone`. Give cron or interval_s."},
    )  # fmt: skip
    timezone = SafeString(
        load_default="UTC", metadata={"description": "IANA time zone of cron (default UTC)."}
    )
    interval_s = StrictNumber(
        load_default=None,
        allow_none=True,
        metadata={"description": "Fire every so many seconds (1 .. 31622400), from now."},
    )
    work_type = _WORK["work_type"]
    parameters = _WORK["parameters"]
    priority = _WORK["priority"]
    timeout_s = _WORK["timeout_s"]
    retry = fields.Nested(RetrySchema, load_default=None)
    on_no_agent = _WORK["on_no_agent"]
    concurrency = _WORK["concurrency"]
    overlap = fields.Enum(
        Overlap,
        by_value=True,
        load_default=Overlap.SKIP,
        metadata={"description": "While the previous run lasts: skip (default), buffer_one, "
                  "allow_all, cancel_previous."},
    )  # fmt: skip
    catch_up = fields.Enum(
        CatchUp,
        by_value=True,
        load_default=CatchUp.SKIP_MISSED,
        metadata={"description": "Times missed while down: skip_missed (default), run_once, "
                  "run_all (with catch_up_window_s)."},
    )  # fmt: skip
    catch_up_window_s = StrictNumber(load_default=None, allow_none=True)
    paused = fields.Boolean(load_default=False)
    end_at = fields.AwareDateTime(
        load_default=None, allow_none=True, metadata={"description": "No fire after this."}
    )
    max_runs = fields.Integer(
        strict=True,
        load_default=None,
        allow_none=True,
        metadata={"description": "The schedule is over after this many fires."},
    )
    note = fields.String(load_default="", validate=validate.Length(max=1000))


class ScheduleIdPathSchema(Schema):
    schedule_id = fields.UUID(required=True)


@always_sent
class ScheduleSchema(Schema):
    schedule_id = fields.UUID()
    cron = fields.String(allow_none=True)
    timezone = fields.String()
    interval_s = fields.Float(allow_none=True)
    work_type = fields.String()
    parameters = fields.Dict(keys=fields.String())
    priority = fields.Integer()
    timeout_s = fields.Float(allow_none=True)
    retry = fields.Nested(RetrySchema)
    on_no_agent = fields.String()
    concurrency = fields.Nested(ConcurrencySchema, allow_none=True)
    overlap = fields.String()
    catch_up = fields.String()
    catch_up_window_s = fields.Float(allow_none=True)
    paused = fields.Boolean()
    end_at = fields.DateTime(allow_none=True)
    max_runs = fields.Integer(allow_none=True)
    note = fields.String()
    runs = fields.Integer(metadata={"description": "Fires so far (trigger now not counted)."})
    next_fire_at = fields.DateTime(allow_none=True, metadata={"description": "null: over."})
    buffered_at = fields.DateTime(allow_none=True)
    last_task_id = fields.UUID(allow_none=True)
    last_fired_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    revision = fields.Integer()


@always_sent
class ScheduleDetailSchema(ScheduleSchema):
    upcoming = fields.List(fields.DateTime(), metadata={"description": "Next fire times."})
    last_runs = fields.List(fields.Nested(TaskSchema), metadata={"description": "Newest first."})


@always_sent
class ScheduleListSchema(Schema):
    items = fields.List(fields.Nested(ScheduleSchema))
