"""What every API call leaves behind: its metrics and one access line."""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web
from prometheus_client import Counter, Histogram

from adapters.http.correlation import request_id_of, task_id_of, trace_id_of
from adapters.http.metrics.registry import ChiffonMetrics

log = logging.getLogger("chiffon.access")

Observe = Callable[[web.Request, web.StreamResponse, float], None]  # a call, its answer, seconds

UNMATCHED = "(unmatched)"  # never the raw path: a label per URL would be unbounded
QUIET_PREFIXES = ("/ui/",)  # the dashboard's static files: counted, not logged


def request_observer(metrics: ChiffonMetrics) -> Observe:
    """Count and time every request by route template and status, and log one access line
    (method, route, http_status, duration_ms, trace_id, request_id, and the task_id when the
    call is about a task). Values and tokens never appear: only the route template, never the
    query, the body or the headers. Called by the edge middleware once the call is answered."""

    # The labelled children, looked up once per (method, route, status): labels() checks and
    # joins its values and takes a lock every time. Bounded like the metrics themselves.
    children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def series(method: str, route: str, status: int) -> tuple[Counter, Histogram]:
        found = children.get((method, route, status))
        if found is None:
            found = (
                metrics.http_requests.labels(method, route, str(status)),
                metrics.http_seconds.labels(method, route),
            )
            children[(method, route, status)] = found
        return found

    def observe(request: web.Request, response: web.StreamResponse, elapsed: float) -> None:
        route = route_of(request)
        status = response.status
        requests, seconds = series(request.method, route, status)
        requests.inc()
        if status != 101:  # a WebSocket session is not a request duration
            seconds.observe(elapsed)
        if not request.path.startswith(QUIET_PREFIXES):
            _access_line(request, route, status, elapsed)

    return observe


def route_of(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED


def _access_line(request: web.Request, route: str, status: int, elapsed: float) -> None:
    duration_ms = round(elapsed * 1000, 2)
    fields = {
        "method": request.method,
        "route": route,
        "http_status": status,
        "duration_ms": duration_ms,
        "trace_id": trace_id_of(request),
        "request_id": request_id_of(request),
        "task_id": task_id_of(request),
    }
    log.info("%s %s %d %.2fms", request.method, route, status, duration_ms, extra=fields)
