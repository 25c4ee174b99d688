"""The aiohttp application factory: routes, middlewares and the OpenAPI document."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web
from aiohttp_apispec import setup_aiohttp_apispec

from adapters.http import (
    agent_routes,
    event_routes,
    task_routes,
    ui_routes,
    work_type_routes,
    ws_routes,
)
from adapters.http.auth import bearer_auth
from adapters.http.errors import error_middleware
from adapters.http.keys import READINESS, SERVICE, ReadinessCheck
from adapters.http.metrics import route as metrics_route
from adapters.http.metrics.middleware import observe_requests
from adapters.http.metrics.registry import ChiffonMetrics
from adapters.http.openapi import SECURITY_DEFINITIONS
from adapters.http.websocket_hub import WebSocketHub
from adapters.http.ws_auth import WS_AUTH, WsAuth
from adapters.http.ws_limits import WsLimits
from chiffon.orchestrator import OrchestratorService
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
) -> web.Application:
    """The API, the dashboard, live push, /metrics and the OpenAPI document. `metrics` is
    shared with the composition root (which also feeds it task changes); one is made if none
    is given."""
    metrics = metrics or ChiffonMetrics()
    middlewares = [observe_requests(metrics), error_middleware]
    if api_token:
        middlewares.append(bearer_auth(api_token))
    app = web.Application(middlewares=middlewares, client_max_size=MAX_BODY_BYTES)
    app[SERVICE] = service
    app[READINESS] = readiness
    app.add_routes(task_routes.routes)
    app.add_routes(event_routes.routes)
    app.add_routes(agent_routes.routes)
    app.add_routes(work_type_routes.routes)
    ui_routes.install(app)
    # Set even without live push: ws_routes.install may be called on this app later (tests).
    app[WS_AUTH] = WsAuth(api_token)
    app.on_shutdown.append(app[WS_AUTH].on_shutdown)
    hub = None if events is None else WebSocketHub(events, ws_limits)
    if hub is not None:  # live push needs somewhere to listen
        ws_routes.install(app, hub, allowed_origins)
    metrics_route.install(app, metrics, lambda: 0 if hub is None else len(hub.connections))
    setup_aiohttp_apispec(
        app,
        title="chiffon",
        version=version,
        info={"description": "Dispatch units of work to typed agents and track them to the end."},
        securityDefinitions=SECURITY_DEFINITIONS,
        security=[{"bearer": []}] if api_token else [],
        url="/api/docs/swagger.json",
        swagger_path="/api/docs",
        in_place=True,
    )
    return app
