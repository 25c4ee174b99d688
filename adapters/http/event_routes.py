"""GET /api/v1/tasks/{task_id}/events: a task's timeline, every stored change in order."""

from __future__ import annotations

from aiohttp import web
from aiohttp_apispec import docs, match_info_schema, querystring_schema, response_schema

from adapters.codec import converter
from adapters.http.keys import SERVICE
from adapters.http.openapi import BAD_REQUEST, NOT_FOUND, responses
from adapters.http.parsing import path_uuid, query
from adapters.http.rendering import json_response
from adapters.http.schemas import EventQuerySchema, TaskEventPageSchema, TaskIdPathSchema

routes = web.RouteTableDef()
_query_schema = EventQuerySchema()


@docs(
    tags=["tasks"],
    summary="A task's timeline: every change, numbered by revision",
    operationId="getTaskEvents",
    description="Each stored change of the task as `{task_id, revision, at, kind, status, "
    "changes}`, in revision order, after `after` (exclusive). Revision 1 (`dispatched`) holds "
    "every field but the parameters, so folding the changes in order gives the task at any "
    "revision. Page with `next_after`.",
    responses=responses((400, BAD_REQUEST), (404, NOT_FOUND)),
)
@match_info_schema(TaskIdPathSchema)
@querystring_schema(EventQuerySchema)
@response_schema(TaskEventPageSchema, 200)
@routes.get("/api/v1/tasks/{task_id}/events")
async def events(request: web.Request) -> web.Response:
    task_id = path_uuid(request, "task_id")
    q = query(request, _query_schema)
    task, found = await request.app[SERVICE].timeline(task_id, q["after"], q["limit"])
    full = len(found) == q["limit"] and found[-1].revision < task.revision
    return json_response(
        {
            "items": [converter.unstructure(e) for e in found],
            "revision": task.revision,
            "next_after": found[-1].revision if full else None,
        }
    )
