"""Error answers: every failure becomes {error_code, error_message, trace_id, details}
(answered by the edge middleware, adapters/http/edge.py)."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from aiohttp import web

from adapters.http.correlation import trace_id_of
from adapters.http.edge_errors import TooManyAuthFailures, Unauthorized
from chiffon.errors import ChiffonError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

STATUS_BY_CODE: Final = {
    1000: 400,
    1001: 400,
    1003: 409,
    1004: 413,
    1005: 415,
    1006: 408,
    2001: 404,
    2002: 400,
    2020: 409,
    2030: 404,
    2031: 409,
    2032: 409,
    3001: 409,
    4010: 401,
    4030: 403,
    4031: 403,
    4290: 429,
    4291: 429,
    5000: 500,
    5030: 503,
}
CHALLENGE: Final = {"WWW-Authenticate": 'Bearer realm="chiffon"'}


def error_body(code: int, message: str, trace_id: str | None, details: Any = None) -> bytes:
    body = {"error_code": code, "error_message": message, "trace_id": trace_id, "details": details}
    return json.dumps(body).encode()


def error_response(
    request: web.BaseRequest,
    code: int,
    message: str,
    details: Any = None,
    status: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    status = status or STATUS_BY_CODE.get(code, 500)
    if status == 401:  # RFC 9110: a 401 names the scheme that would work
        headers = {**CHALLENGE, **(headers or {})}
    return web.Response(
        body=error_body(code, message, trace_id_of(request), details),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def error_answer(request: web.Request, exc: Exception) -> web.Response:
    """The answer to a call that failed with `exc` (called by the edge middleware while it
    handles `exc`): a ChiffonError as its code says, an HTTP error with its status, anything
    else a 500 logged with the call's trace id. An HTTP exception under 400 (a redirect) is
    not a failure: it is raised again, for aiohttp to answer."""
    if isinstance(exc, ChiffonError):
        headers = _headers_for(exc)
        return error_response(request, exc.error_code, exc.message, exc.details, headers=headers)
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return error_response(request, 1004, f"request body too large: {exc.text}")
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            raise exc
        code = 1000 if exc.status < 500 else 5000
        allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return error_response(request, code, exc.reason, status=exc.status, headers=allow)
    if isinstance(exc, ConnectionError) and _client_gone(request):
        # The client hung up mid-request: nothing wrong on our side. The answer goes nowhere
        # (aiohttp drops it quietly); raising would have aiohttp log a 500 with a traceback.
        log.info("client went away during %s %.200r", request.method, request.raw_path)
        return error_response(request, 1000, "the client went away", status=400)
    return _internal_error(request)


def close_if_unread(request: web.Request, response: web.StreamResponse) -> None:
    """A body we did not read is not drained by aiohttp on our behalf (a compressed one would
    even be decoded to be thrown away): close the connection after answering."""
    if isinstance(response, web.Response) and not request.content.is_eof():
        response.force_close()


def _headers_for(exc: ChiffonError) -> Mapping[str, str] | None:
    if isinstance(exc, Unauthorized):
        return CHALLENGE
    if isinstance(exc, TooManyAuthFailures):
        return {"Retry-After": str(exc.retry_after_s)}
    return None


def _internal_error(request: web.Request) -> web.Response:
    trace = trace_id_of(request)
    log.exception(
        "unhandled error on %s %.200r (trace_id=%s)", request.method, request.raw_path, trace
    )
    return error_response(request, 5000, f"internal error; see the log for trace_id {trace}")


def _client_gone(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()
