"""HTTP handlers of /api/v1/schedules. Thin: parse, one use-case call, respond."""

from __future__ import annotations

from aiohttp import web
from aiohttp_apispec import docs, json_schema, match_info_schema, response_schema

from adapters.codec import converter
from adapters.http.keys import SCHEDULES
from adapters.http.openapi import error, post_responses, responses
from adapters.http.parsing import json_object, load, path_uuid, require_json_if_any
from adapters.http.rendering import json_response, shown_task
from adapters.http.schedule_json import schedule_json
from adapters.http.schedule_schemas import (
    ScheduleDetailSchema,
    ScheduleIdPathSchema,
    ScheduleListSchema,
    ScheduleRequestSchema,
    ScheduleSchema,
)
from adapters.http.schemas import TaskSchema
from chiffon.commands import RetryRequest
from chiffon.concurrency import ConcurrencyLimit
from chiffon.schedule_requests import ScheduleRequest
from chiffon.schedules import ScheduledWork

routes = web.RouteTableDef()
_request_schema = ScheduleRequestSchema()
NOT_FOUND = error("Schedule not found (2030)")
INVALID = error("Invalid body (1000, naming each field); the work type does not route (1001)")
_WORK_FIELDS = ("work_type", "parameters", "priority", "timeout_s", "on_no_agent")


async def _request(request: web.Request) -> ScheduleRequest:
    require_json_if_any(request)
    body = load(_request_schema, await json_object(request))
    retry = body.pop("retry") or {}
    limit = body.pop("concurrency")
    work = ScheduledWork(
        **{k: body.pop(k) for k in _WORK_FIELDS},
        retry=RetryRequest(**retry),
        concurrency=None if limit is None else ConcurrencyLimit(**limit),
    )
    return ScheduleRequest(work=work, **body)


@docs(
    tags=["schedules"],
    summary="Create a schedule",
    operationId="createSchedule",
    description="A flat body like a dispatch's, plus when (`cron` + `timezone`, or "
    "`interval_s`) and the policies. Each fire dispatches a task carrying `schedule_id` and "
    "`scheduled_at`, once per scheduled time across replicas. See docs/schedules.md.",
    responses=post_responses(
        (400, INVALID),
        (403, error("A browser page of another origin")),
        (409, error("There are 1000 schedules already (2032)")),
    ),
)
@json_schema(ScheduleRequestSchema)
@response_schema(ScheduleSchema, 201)
@routes.post("/api/v1/schedules")
async def create_schedule(request: web.Request) -> web.Response:
    schedule = await request.app[SCHEDULES].create(await _request(request))
    return json_response(schedule_json(schedule), status=201)


@docs(
    tags=["schedules"],
    summary="List schedules",
    operationId="listSchedules",
    description="Every schedule, oldest first.",
    responses=responses(),
)
@response_schema(ScheduleListSchema, 200)
@routes.get("/api/v1/schedules")
async def list_schedules(request: web.Request) -> web.Response:
    items = [schedule_json(s) for s in await request.app[SCHEDULES].list()]
    return json_response({"items": items})


@docs(
    tags=["schedules"],
    summary="A schedule, its next fire times and its last runs",
    operationId="getSchedule",
    responses=responses((400, error("Bad schedule id (1000)")), (404, NOT_FOUND)),
)
@match_info_schema(ScheduleIdPathSchema)
@response_schema(ScheduleDetailSchema, 200)
@routes.get("/api/v1/schedules/{schedule_id}")
async def get_schedule(request: web.Request) -> web.Response:
    view = await request.app[SCHEDULES].get(path_uuid(request, "schedule_id"))
    data = schedule_json(view.schedule)
    data["upcoming"] = [converter.unstructure(t) for t in view.upcoming]
    data["last_runs"] = [shown_task(t) for t in view.last_runs]
    return json_response(data)


@docs(
    tags=["schedules"],
    summary="Replace a schedule's settings",
    operationId="updateSchedule",
    description="The same body as create; the schedule keeps its id, runs and last run, and "
    "its next fire time is chosen again from now.",
    responses=post_responses((400, INVALID), (404, NOT_FOUND), (409, error("Busy (2031)"))),
)
@match_info_schema(ScheduleIdPathSchema)
@json_schema(ScheduleRequestSchema)
@response_schema(ScheduleSchema, 200)
@routes.put("/api/v1/schedules/{schedule_id}")
async def update_schedule(request: web.Request) -> web.Response:
    schedule_id = path_uuid(request, "schedule_id")
    schedule = await request.app[SCHEDULES].update(schedule_id, await _request(request))
    return json_response(schedule_json(schedule))


def _action(name: str, summary: str, operation: str) -> None:
    @docs(
        tags=["schedules"],
        summary=summary,
        operationId=operation,
        description="No body is needed.",
        responses=post_responses((400, error("Bad schedule id (1000)")), (404, NOT_FOUND)),
    )
    @match_info_schema(ScheduleIdPathSchema)
    @response_schema(ScheduleSchema, 200)
    async def act(request: web.Request) -> web.Response:
        require_json_if_any(request)
        use_case = getattr(request.app[SCHEDULES], name)
        return json_response(schedule_json(await use_case(path_uuid(request, "schedule_id"))))

    routes.post(f"/api/v1/schedules/{{schedule_id}}/{name}")(act)


_action("pause", "Pause a schedule (it does not fire)", "pauseSchedule")
_action("resume", "Resume a schedule (from its next time; no catch-up)", "resumeSchedule")


@docs(
    tags=["schedules"],
    summary="Fire a schedule now",
    operationId="triggerSchedule",
    description="Dispatches its work now, whatever its policies (paused too): the task's "
    "`scheduled_at` is now; it becomes the schedule's last run.",
    responses=post_responses(
        (400, INVALID), (404, NOT_FOUND), (409, error("No live agent, with on_no_agent reject"))
    ),
)
@match_info_schema(ScheduleIdPathSchema)
@response_schema(TaskSchema, 200)
@routes.post("/api/v1/schedules/{schedule_id}/trigger")
async def trigger_schedule(request: web.Request) -> web.Response:
    require_json_if_any(request)
    task = await request.app[SCHEDULES].trigger(path_uuid(request, "schedule_id"))
    return json_response(shown_task(task))


@docs(
    tags=["schedules"],
    summary="Delete a schedule (its tasks stay)",
    operationId="deleteSchedule",
    responses=responses((400, error("Bad schedule id (1000)")), (404, NOT_FOUND)),
)
@match_info_schema(ScheduleIdPathSchema)
@routes.delete("/api/v1/schedules/{schedule_id}")
async def delete_schedule(request: web.Request) -> web.Response:
    await request.app[SCHEDULES].delete(path_uuid(request, "schedule_id"))
    return web.Response(status=204)
