"""HTTP handler for the work types a dispatch may name (the routing table plus live agents)."""

from __future__ import annotations

from aiohttp import web
from aiohttp_apispec import docs, response_schema

from adapters.http.keys import SERVICE
from adapters.http.openapi import responses
from adapters.http.schemas import WorkTypeSchema

routes = web.RouteTableDef()


@docs(
    tags=["agents"],
    summary="Work types a dispatch may name, and the agent type each goes to",
    operationId="listWorkTypes",
    description="The routing table's work types (source `table`: the default table and "
    "CHIFFON_ROUTES), then those that agents not offline advertise in their heartbeats "
    "(source `advertised`), sorted by work_type. A work type in both is listed once, as "
    "`table`: the table wins, as it does for dispatch.",
    responses=responses(),
)
@response_schema(WorkTypeSchema(many=True), 200)
@routes.get("/api/v1/work-types")
async def work_types(request: web.Request) -> web.Response:
    found = await request.app[SERVICE].work_types()
    return web.json_response(
        [
            {"work_type": r.work_type, "agent_type": r.agent_type, "source": r.source.value}
            for r in found
        ]
    )
