"""Optional bearer-token auth: guards every route but /health and the dashboard's files."""

from __future__ import annotations

import hmac

from aiohttp import web
from aiohttp.typedefs import Middleware

from adapters.http.errors import Handler
from adapters.http.ui_routes import UI_PREFIX
from adapters.http.ws_auth import HEADER_AUTHENTICATED
from adapters.http.ws_routes import PATH as WS_PATH
from chiffon.errors import Unauthorized

# The page itself is public: it holds no data and asks for the token before any API call.
OPEN_PATHS = frozenset({"/health", "/", "/ui"})


def bearer_auth(token: str) -> Middleware:
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in OPEN_PATHS or request.path.startswith(UI_PREFIX):
            return await handler(request)
        given = request.headers.get("Authorization")
        if given is None and request.path == WS_PATH:
            # A browser cannot set headers on a WebSocket: it sends the token in its first
            # message instead, which the WebSocket handler demands (ws_auth.WsAuth).
            return await handler(request)
        if not hmac.compare_digest((given or "").encode(), expected):
            raise Unauthorized("missing or wrong bearer token (Authorization: Bearer ...)")
        request[HEADER_AUTHENTICATED] = True
        return await handler(request)

    return middleware
