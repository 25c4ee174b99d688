"""HTTP handler for stats over time (throughput, failures, queue depth, run time)."""

from __future__ import annotations

from aiohttp import web
from aiohttp_apispec import docs, querystring_schema, response_schema

from adapters.http.keys import SERVICE
from adapters.http.openapi import BAD_REQUEST, responses
from adapters.http.parsing import query
from adapters.http.schemas import StatsQuerySchema, StatsSchema
from chiffon.stats import Stats

routes = web.RouteTableDef()
_query_schema = StatsQuerySchema()


@docs(
    tags=["tasks"],
    summary="Throughput, failures, queue depth and run time over time",
    operationId="getStats",
    description="The last `window` in intervals of `step` (aligned on multiples of step; the "
    "last one is still filling): tasks dispatched, completed, failed, timed out and cancelled "
    "in each, the p50/p95 of the duration_ms of those that finished, and the pending tasks "
    "per agent type at each interval's end (walked back from now). Limits: window 1 s .. 7 d, "
    "step 1 s .. 1 d, at most 500 intervals; beyond them 400/1000.",
    responses=responses((400, BAD_REQUEST)),
)
@querystring_schema(StatsQuerySchema)
@response_schema(StatsSchema, 200)
@routes.get("/api/v1/stats")
async def stats(request: web.Request) -> web.Response:
    q = query(request, _query_schema)
    return web.json_response(stats_json(await request.app[SERVICE].stats(q["window"], q["step"])))


def stats_json(found: Stats) -> dict[str, object]:
    span = found.span
    return {
        "window_s": span.step_s * span.intervals,
        "step_s": span.step_s,
        "start": span.start.isoformat(),
        "end": span.end.isoformat(),
        "intervals": [
            {
                "start": i.start.isoformat(),
                "dispatched": i.dispatched,
                "completed": i.completed,
                "failed": i.failed,
                "timed_out": i.timed_out,
                "cancelled": i.cancelled,
                "p50_ms": i.p50_ms,
                "p95_ms": i.p95_ms,
            }
            for i in found.intervals
        ],
        "queue_depth": {t: list(levels) for t, levels in found.queue_depth.items()},
        "pending_now": dict(found.pending_now),
    }
