"""The WebSocket's Origin check: browsers send Origin on every WebSocket upgrade and do not
apply CORS to it, so without this check any page a user visits could read the live stream."""

from __future__ import annotations

from collections.abc import Collection

from aiohttp import web
from yarl import URL

from adapters.http.edge_errors import ForbiddenOrigin


def check_origin(request: web.Request, allowed: Collection[str]) -> None:
    """Pass requests without Origin (not a browser), from the same origin as the Host they
    address, or from an allowed origin; refuse the rest with 403/4030."""
    origin = request.headers.get("Origin")
    if origin is None or origin in allowed or _same_origin(origin, request.host):
        return
    raise ForbiddenOrigin(
        "this page's origin may not open the WebSocket (set CHIFFON_ALLOWED_ORIGINS to allow it)",
        {"Origin": [origin[:100]]},
    )


def _same_origin(origin: str, host: str) -> bool:
    try:
        url = URL(origin)
    except ValueError:
        return False
    return url.scheme in ("http", "https") and (url.raw_authority or "").lower() == host.lower()
