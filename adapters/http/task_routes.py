"""HTTP handlers for tasks: dispatch, status, list, cancel. Thin: parse, one call, respond."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from aiohttp import web
from aiohttp_apispec import (
    docs,
    json_schema,
    match_info_schema,
    querystring_schema,
    response_schema,
)

from adapters.http.correlation import REQUEST_HEADER, TRACE_HEADER, about_task, given
from adapters.http.cursor import decode_cursor, encode_cursor
from adapters.http.dispatch_body import load_plain
from adapters.http.keys import SERVICE
from adapters.http.openapi import (
    BAD_REQUEST,
    NOT_FOUND,
    error,
    post_responses,
    responses,
)
from adapters.http.parsing import json_object, load, path_uuid, query, require_json_if_any
from adapters.http.rendering import page_response, task_response
from adapters.http.schemas import (
    CancelResponseSchema,
    DispatchRequestSchema,
    DispatchResponseSchema,
    TaskIdPathSchema,
    TaskPageSchema,
    TaskQuerySchema,
    TaskSchema,
)
from chiffon.commands import Correlation, DispatchCommand, RetryRequest
from chiffon.concurrency import ConcurrencyLimit
from chiffon.model import TaskStatus, WaitingReason
from ports.task_repository import TaskFilter

routes = web.RouteTableDef()
_dispatch_schema = DispatchRequestSchema()
_query_schema = TaskQuerySchema()


@docs(
    tags=["tasks"],
    summary="Dispatch a unit of work",
    operationId="dispatchTask",
    description="Stores the task and its work message in one step, then returns; an agent of "
    "the routed type runs it. Idempotent on task_id: the same request again returns the first "
    "answer, a different request with a used task_id is 409/1003. Priority 5 is delivered "
    "first. Without trace_id / request_id in the body, the task takes the caller's X-Trace-Id "
    "/ X-Request-Id headers (UUIDs), else fresh ones; the body wins.",
    responses=post_responses(
        (400, error("Invalid body (1000) or unknown work_type (1001)")),
        (409, error("task_id reused by another request (1003); no live agent (3001)")),
        (413, error("Body or parameters too large (1004)")),
    ),
)
@json_schema(DispatchRequestSchema, required=True)
@response_schema(DispatchResponseSchema, 200)
@routes.post("/api/v1/dispatch")
async def dispatch(request: web.Request) -> web.Response:
    data = await json_object(request)
    body = load_plain(data) or load(_dispatch_schema, data)  # the schema says what is wrong
    retry = body.pop("retry", None)
    limit = body.pop("concurrency", None)
    sent = Correlation(given(request, TRACE_HEADER), given(request, REQUEST_HEADER))
    command = DispatchCommand(
        **body,
        retry=RetryRequest(**(retry or {})),
        correlation=sent,
        concurrency=None if limit is None else ConcurrencyLimit(**limit),
    )
    task, _ = await request.app[SERVICE].dispatch(command)
    ids = str(task.task_id), str(task.trace_id), str(task.request_id)
    about_task(request, *ids)
    return web.Response(text=_dispatched(*ids, task.not_before), content_type="application/json")


def _dispatched(task_id: str, trace_id: str, request_id: str, not_before: datetime | None) -> str:
    """The answer to a dispatch, as `json.dumps` wrote it, without the dict and the encoder:
    UUIDs and an ISO timestamp hold nothing JSON must escape."""
    start = "null" if not_before is None else f'"{not_before.isoformat()}"'
    return (
        f'{{"task_id": "{task_id}", "trace_id": "{trace_id}", "request_id": "{request_id}", '
        f'"status": "{PENDING}", "not_before": {start}}}'
    )


PENDING: Final = TaskStatus.PENDING.value


@docs(
    tags=["tasks"],
    summary="One task's current state",
    operationId="getTaskStatus",
    responses=responses((400, BAD_REQUEST), (404, NOT_FOUND)),
)
@match_info_schema(TaskIdPathSchema)
@response_schema(TaskSchema, 200)
@routes.get("/api/v1/status/{task_id}")
async def status(request: web.Request) -> web.Response:
    task = await request.app[SERVICE].get_task(path_uuid(request, "task_id"))
    return task_response(task)


@docs(
    tags=["tasks"],
    summary="List and search tasks, newest first",
    operationId="listTasks",
    description="Keyset pagination: pass next_cursor back as cursor for the next page (with "
    "the same filters). Every filter given must match: status, waiting_reason, work_type, "
    "agent_type, trace_id, id (a task id prefix), agent (an agent id), schedule_id (the "
    "schedule that fired it), concurrency_key, created_after "
    "(inclusive), created_before (exclusive), and q (a case-insensitive substring of the "
    "parameters', result's JSON text or the error message).",
    responses=responses((400, BAD_REQUEST)),
)
@querystring_schema(TaskQuerySchema)
@response_schema(TaskPageSchema, 200)
@routes.get("/api/v1/tasks")
async def list_tasks(request: web.Request) -> web.Response:
    q = query(request, _query_schema)
    flt = TaskFilter(
        status=TaskStatus(q["status"]) if "status" in q else None,
        waiting_reason=WaitingReason(q["waiting_reason"]) if "waiting_reason" in q else None,
        work_type=q.get("work_type"),
        agent_type=q.get("agent_type"),
        trace_id=q.get("trace_id"),
        id_prefix=q.get("id"),
        agent_id=q.get("agent"),
        schedule_id=q.get("schedule_id"),
        concurrency_key=q.get("concurrency_key"),
        created_after=q.get("created_after"),
        created_before=q.get("created_before"),
        text=q.get("q"),
    )
    after = decode_cursor(q["cursor"]) if "cursor" in q else None
    page = await request.app[SERVICE].list_tasks(flt, q["limit"], after)
    cursor = None if page.next_cursor is None else encode_cursor(page.next_cursor)
    return page_response(page.items, cursor)


@docs(
    tags=["tasks"],
    summary="Cancel a pending or running task",
    operationId="cancelTask",
    description="A running task's agent is told to stop its handler at once; a pending task "
    "is never run. A finished task is 400/2002. No body is needed (`curl -X POST URL` "
    "works); a body, if sent, must be JSON (it is ignored). A browser page of another "
    "origin is refused (403/4030).",
    responses=post_responses(
        (400, error("Bad task id (1000) or not cancellable: already finished (2002)")),
        (403, error("A browser page of another origin (4030)")),
        (404, NOT_FOUND),
    ),
)
@match_info_schema(TaskIdPathSchema)
@response_schema(CancelResponseSchema, 200)
@routes.post("/api/v1/cancel/{task_id}")
async def cancel(request: web.Request) -> web.Response:
    require_json_if_any(request)
    task = await request.app[SERVICE].cancel(path_uuid(request, "task_id"))
    return web.json_response(
        {
            "task_id": str(task.task_id),
            "status": task.status.value,
            "cancel_outcome": None if task.cancel_outcome is None else task.cancel_outcome.value,
        }
    )
