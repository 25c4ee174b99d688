"""Optional bearer-token auth: guards every route but /health."""

from __future__ import annotations

import hmac

from aiohttp import web
from aiohttp.typedefs import Middleware

from adapters.http.errors import Handler, error_response
from adapters.http.ws_auth import HEADER_AUTHENTICATED
from adapters.http.ws_routes import PATH as WS_PATH

OPEN_PATHS = frozenset({"/health"})


def bearer_auth(token: str) -> Middleware:
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in OPEN_PATHS:
            return await handler(request)
        given = request.headers.get("Authorization")
        if given is None and request.path == WS_PATH:
            # A browser cannot set headers on a WebSocket: it sends the token in its first
            # message instead, which the WebSocket handler demands (ws_auth.WsAuth).
            return await handler(request)
        if not hmac.compare_digest((given or "").encode(), expected):
            message = "missing or wrong bearer token (Authorization: Bearer ...)"
            response = error_response(request, 4010, message)
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        request[HEADER_AUTHENTICATED] = True
        return await handler(request)

    return middleware
