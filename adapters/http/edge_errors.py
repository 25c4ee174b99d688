"""Errors only the HTTP edge raises (bodies, tokens, origins, hosts, connections): the domain
never sees a request, so they live here. Each keeps its stable error_code; the middleware
(adapters/http/errors.py) answers them like every other ChiffonError."""

from __future__ import annotations

from chiffon.errors import ChiffonError


class UnsupportedMediaType(ChiffonError):
    """A body that is not `application/json`, or is compressed."""

    error_code = 1005


class RequestTimeout(ChiffonError):
    """The request (headers or body) did not arrive in time."""

    error_code = 1006


class Unauthorized(ChiffonError):
    error_code = 4010


class ForbiddenOrigin(ChiffonError):
    """A browser page from another origin tried to open the WebSocket."""

    error_code = 4030


class ForbiddenHost(ChiffonError):
    """With no token set, a request whose Host names none of this server's names: the mark of
    DNS rebinding (a page of another site reaching a loopback server through its own name)."""

    error_code = 4031


class TooManyAuthFailures(ChiffonError):
    """Too many wrong tokens from one address: it must wait `retry_after_s` before trying."""

    error_code = 4291

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message, {"retry_after_s": retry_after_s})
        self.retry_after_s = retry_after_s


class TooManyConnections(ChiffonError):
    """A client holds as many WebSocket connections as it may, or the server does."""

    error_code = 4290
