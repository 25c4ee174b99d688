"""Optional bearer-token auth: guards every route but /health when a token is set."""

from __future__ import annotations

import hmac
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Middleware

from adapters.http.errors import Handler
from chiffon.errors import Unauthorized

OPEN_PATHS: Final = frozenset({"/health"})


def bearer_auth(token: str) -> Middleware:
    """Refuse (401/4010 with WWW-Authenticate) any request without `Authorization: Bearer
    <token>`. The scheme is case-insensitive (RFC 7235); any bytes at all are compared in
    constant time, never decoded or logged."""
    if not token:
        raise ValueError("an empty API token would let everyone in")
    expected = token.encode("utf-8")

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in OPEN_PATHS and not authorized(request, expected):
            raise Unauthorized("missing or wrong bearer token (Authorization: Bearer ...)")
        return await handler(request)

    return middleware


def authorized(request: web.BaseRequest, expected: bytes) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").strip().partition(" ")
    # aiohttp keeps undecodable header bytes as surrogates: encode them back, never fail.
    try:
        raw = given.strip().encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return False
    return scheme.lower() == "bearer" and hmac.compare_digest(raw, expected)
