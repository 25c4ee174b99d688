"""HTTP handler for rerunning a finished task as a new one. Thin: parse, one call, respond."""

from __future__ import annotations

from aiohttp import web
from aiohttp_apispec import docs, json_schema, match_info_schema, response_schema

from adapters.http.correlation import about_task
from adapters.http.keys import SERVICE
from adapters.http.openapi import NOT_FOUND, error, post_responses
from adapters.http.parsing import json_object, load, path_uuid, require_json_if_any
from adapters.http.schemas import RerunRequestSchema, RerunResponseSchema, TaskIdPathSchema

routes = web.RouteTableDef()
_request_schema = RerunRequestSchema()


@docs(
    tags=["tasks"],
    summary="Rerun a finished task as a new task",
    operationId="rerunTask",
    description="Dispatches the finished task's work again: the same work_type, parameters, "
    "priority, timeout and retry policy, in the same trace, as a new task (fresh request_id) "
    "whose `rerun_of` is the original and that starts now. The body is optional; "
    '`{"task_id": UUID}` makes the call idempotent (the same id again answers the same task). '
    "A task not finished yet is 409/2020.",
    responses=post_responses(
        (400, error("Bad task id or body (1000); the work type no longer routes (1001)")),
        (403, error("A browser page of another origin (4030)")),
        (404, NOT_FOUND),
        (409, error("Not finished yet (2020); task_id used by another request (1003)")),
    ),
)
@match_info_schema(TaskIdPathSchema)
@json_schema(RerunRequestSchema, required=False)
@response_schema(RerunResponseSchema, 200)
@routes.post("/api/v1/tasks/{task_id}/rerun")
async def rerun(request: web.Request) -> web.Response:
    original = path_uuid(request, "task_id")
    require_json_if_any(request)
    body = load(_request_schema, await json_object(request)) if request.body_exists else {}
    task, _ = await request.app[SERVICE].rerun(original, body.get("task_id"))
    about_task(request, str(task.task_id), str(task.trace_id), str(task.request_id))
    return web.json_response(
        {
            "task_id": str(task.task_id),
            "trace_id": str(task.trace_id),
            "request_id": str(task.request_id),
            "status": task.status.value,
            "rerun_of": str(original),
        }
    )
