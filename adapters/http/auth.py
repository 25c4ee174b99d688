"""Optional bearer-token auth: guards every route but /health (and the dashboard's files)
when a token is set."""

from __future__ import annotations

import hmac
from typing import Final

from aiohttp import web

from adapters.http.auth_throttle import AUTH_THROTTLE
from adapters.http.edge import Guard
from adapters.http.edge_errors import Unauthorized
from adapters.http.ui_routes import UI_PREFIX
from adapters.http.ws_auth import HEADER_AUTHENTICATED
from adapters.http.ws_routes import PATH as WS_PATH

# The dashboard's page is public: it holds no data and asks for the token before any API call.
OPEN_PATHS: Final = frozenset({"/health", "/", "/ui"})


def bearer_guard(token: str) -> Guard:
    """Refuse (401/4010 with WWW-Authenticate) any request without `Authorization: Bearer
    <token>`. The scheme is case-insensitive (RFC 7235); any bytes at all are compared in
    constant time, never decoded or logged."""
    if not token:
        raise ValueError("an empty API token would let everyone in")
    expected = token.encode("utf-8")

    def guard(request: web.Request) -> None:
        if request.path in OPEN_PATHS or request.path.startswith(UI_PREFIX):
            return
        if "Authorization" not in request.headers and request.path == WS_PATH:
            # A browser cannot set headers on a WebSocket: it sends the token in its first
            # message instead, which the WebSocket handler demands (ws_auth.WsAuth).
            return
        throttle, address = request.app[AUTH_THROTTLE], request.remote or ""
        tried = "Authorization" in request.headers  # only a token sent counts as a try
        if tried:
            throttle.check(address)  # 429/4291 unchecked while this address must wait
        if not authorized(request, expected):
            if tried:
                throttle.failed(address)
            raise Unauthorized("missing or wrong bearer token (Authorization: Bearer ...)")
        request[HEADER_AUTHENTICATED] = True

    return guard


def authorized(request: web.BaseRequest, expected: bytes) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").strip().partition(" ")
    # aiohttp keeps undecodable header bytes as surrogates: encode them back, never fail.
    try:
        raw = given.strip().encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return False
    return scheme.lower() == "bearer" and hmac.compare_digest(raw, expected)
