"""Headers that tell a browser how little to trust: no inline script, no framing, no sniffing,
no referrer. Every answer carries them (the dashboard's files, the API docs, the API)."""

from __future__ import annotations

from typing import Final

from aiohttp import web

# 'self' covers ws:/wss: to the same host (CSP 3); data: images: the empty favicon, and the
# icons Swagger UI's stylesheet carries inline.
CONTENT_SECURITY_POLICY: Final = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "Referrer-Policy": "no-referrer",
}


def stamp(response: web.StreamResponse) -> None:
    """Before an answer goes out (app.py's on_response_prepare): added to every answer,
    unless a handler set its own."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
