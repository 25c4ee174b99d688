"""Optional bearer-token auth: guards every route but /health when a token is set."""

from __future__ import annotations

import hmac

from aiohttp import web
from aiohttp.typedefs import Middleware

from adapters.http.errors import Handler
from chiffon.errors import Unauthorized

OPEN_PATHS = frozenset({"/health"})


def bearer_auth(token: str) -> Middleware:
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in OPEN_PATHS:
            given = request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                raise Unauthorized("missing or wrong bearer token (Authorization: Bearer ...)")
        return await handler(request)

    return middleware
