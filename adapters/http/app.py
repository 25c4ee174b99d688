"""The aiohttp application factory: routes, middlewares and the OpenAPI document."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from adapters.http import (
    agent_routes,
    audit_routes,
    correlation,
    docs_routes,
    event_routes,
    rerun_routes,
    schedule_routes,
    security_headers,
    stats_routes,
    task_routes,
    ui_routes,
    work_type_routes,
    ws_routes,
)
from adapters.http.auth import bearer_guard
from adapters.http.auth_throttle import AUTH_THROTTLE, AuthThrottle
from adapters.http.edge import edge_middleware
from adapters.http.host_check import host_guard
from adapters.http.keys import ALLOWED_ORIGINS, READINESS, SCHEDULES, SERVICE, ReadinessCheck
from adapters.http.metrics import route as metrics_route
from adapters.http.metrics.registry import ChiffonMetrics
from adapters.http.websocket_hub import WebSocketHub
from adapters.http.ws_auth import WS_AUTH, WsAuth
from adapters.http.ws_limits import WsLimits
from chiffon.orchestrator import OrchestratorService
from chiffon.schedule_service import ScheduleService
from ports.notifier import EventSource

MAX_BODY_BYTES = 1024 * 1024


def create_app(
    service: OrchestratorService,
    readiness: Mapping[str, ReadinessCheck],
    api_token: str | None = None,
    version: str = "0.1.0",
    events: EventSource | None = None,
    ws_limits: WsLimits | None = None,
    allowed_origins: frozenset[str] = frozenset(),
    metrics: ChiffonMetrics | None = None,
    allowed_hosts: frozenset[str] = frozenset(),
    schedules: ScheduleService | None = None,
) -> web.Application:
    """The API, the dashboard, live push, /metrics and the OpenAPI document. `metrics` is
    shared with the composition root (which also feeds it task changes); one is made if none
    is given. With no token, the Host of every request is checked (`allowed_hosts` besides
    IP literals and localhost: host_check)."""
    metrics = metrics or ChiffonMetrics()
    guard = bearer_guard(api_token) if api_token else host_guard(allowed_hosts)
    app = web.Application(
        middlewares=[edge_middleware(metrics, guard)], client_max_size=MAX_BODY_BYTES
    )
    app[AUTH_THROTTLE] = throttle = AuthThrottle()
    app[SERVICE] = service
    app[READINESS] = readiness
    app[ALLOWED_ORIGINS] = allowed_origins
    app.on_response_prepare.append(_stamp)
    app.add_routes(task_routes.routes)
    app.add_routes(event_routes.routes)
    app.add_routes(rerun_routes.routes)
    app.add_routes(stats_routes.routes)
    app.add_routes(agent_routes.routes)
    app.add_routes(audit_routes.routes)
    app.add_routes(work_type_routes.routes)
    if schedules is not None:
        app[SCHEDULES] = schedules
        app.add_routes(schedule_routes.routes)
    ui_routes.install(app)
    # Set even without live push: ws_routes.install may be called on this app later (tests).
    app[WS_AUTH] = WsAuth(api_token, throttle=throttle)
    app.on_shutdown.append(app[WS_AUTH].on_shutdown)
    hub = None if events is None else WebSocketHub(events, ws_limits)
    if hub is not None:  # live push needs somewhere to listen
        ws_routes.install(app, hub, allowed_origins)
    metrics_route.install(app, metrics, lambda: 0 if hub is None else len(hub.connections))
    docs_routes.install(app, version=version, secured=bool(api_token))
    return app


async def _stamp(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: the call's ids and the browser's headers on every answer, in one
    callback (each is a coroutine per answer)."""
    correlation.stamp(request, response)
    security_headers.stamp(response)
