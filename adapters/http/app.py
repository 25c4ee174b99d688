"""The aiohttp application factory: routes, middlewares and the OpenAPI document."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web
from aiohttp_apispec import setup_aiohttp_apispec

from adapters.http import agent_routes, task_routes, ui_routes, work_type_routes, ws_routes
from adapters.http.auth import bearer_auth
from adapters.http.errors import error_middleware
from adapters.http.keys import READINESS, SERVICE, ReadinessCheck
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
) -> web.Application:
    middlewares = [error_middleware] + ([bearer_auth(api_token)] if api_token else [])
    app = web.Application(middlewares=middlewares, client_max_size=MAX_BODY_BYTES)
    app[SERVICE] = service
    app[READINESS] = readiness
    app.add_routes(task_routes.routes)
    app.add_routes(agent_routes.routes)
    app.add_routes(work_type_routes.routes)
    ui_routes.install(app)
    # Set even without live push: ws_routes.install may be called on this app later (tests).
    app[WS_AUTH] = WsAuth(api_token)
    app.on_shutdown.append(app[WS_AUTH].on_shutdown)
    if events is not None:  # live push needs somewhere to listen
        ws_routes.install(app, WebSocketHub(events, ws_limits), allowed_origins)
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
