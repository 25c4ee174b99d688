"""HTTP handlers for agents and for health/readiness."""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp_apispec import docs, querystring_schema, response_schema

from adapters.codec import agent_to_json
from adapters.http.keys import READINESS, SERVICE
from adapters.http.openapi import UNAUTHORIZED, error, responses
from adapters.http.parsing import query
from adapters.http.schemas import AgentQuerySchema, AgentSchema, HealthSchema
from chiffon.model import AgentStatus

routes = web.RouteTableDef()
_query_schema = AgentQuerySchema()
READY_TIMEOUT_S = 2.0


@docs(
    tags=["agents"],
    summary="Agents known from their heartbeats",
    operationId="listAgents",
    responses=responses((400, error("Bad filter (1000)"))),
)
@querystring_schema(AgentQuerySchema)
@response_schema(AgentSchema(many=True), 200)
@routes.get("/api/v1/agents")
async def list_agents(request: web.Request) -> web.Response:
    q = query(request, _query_schema)
    status = AgentStatus(q["status"]) if "status" in q else None
    agents = await request.app[SERVICE].list_agents(q.get("agent_type"), status)
    return web.json_response([agent_to_json(a) for a in agents])


@docs(
    tags=["health"],
    summary="Liveness: the process answers (never needs a token)",
    operationId="getHealth",
    security=[],
)
@response_schema(HealthSchema, 200)
@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "checks": {}})


@docs(
    tags=["health"],
    summary="Readiness: the store and the bus answer",
    operationId="getReadiness",
    responses={
        401: UNAUTHORIZED,
        503: {"schema": HealthSchema, "description": "A dependency is down"},
    },
)
@response_schema(HealthSchema, 200)
@routes.get("/ready")
async def ready(request: web.Request) -> web.Response:
    checks: dict[str, str] = {}
    for name, check in request.app[READINESS].items():
        try:
            async with asyncio.timeout(READY_TIMEOUT_S):
                await check()
            checks[name] = "ok"
        except Exception as exc:
            checks[name] = f"down: {exc or type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return web.json_response(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503
    )
