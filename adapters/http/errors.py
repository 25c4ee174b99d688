"""Error middleware: every failure becomes {error_code, error_message, trace_id, details}."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from chiffon.errors import ChiffonError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

STATUS_BY_CODE = {
    1000: 400,
    1001: 400,
    1003: 409,
    1004: 413,
    2001: 404,
    2002: 400,
    4010: 401,
    5000: 500,
    5030: 503,
}
TRACE_KEY = "chiffon_trace_id"


def trace_id_of(request: web.Request) -> str:
    """The request's trace id: the caller's X-Trace-Id if given, else a fresh one."""
    if TRACE_KEY not in request:
        request[TRACE_KEY] = request.headers.get("X-Trace-Id") or str(uuid.uuid4())
    return str(request[TRACE_KEY])


def error_response(
    request: web.Request, code: int, message: str, details: Any = None, status: int | None = None
) -> web.Response:
    body = {
        "error_code": code,
        "error_message": message,
        "trace_id": trace_id_of(request),
        "details": details,
    }
    response = web.json_response(body, status=status or STATUS_BY_CODE.get(code, 500))
    if response.status == 401:  # RFC 9110: a 401 names the scheme that would work
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ChiffonError as exc:
        return error_response(request, exc.error_code, exc.message, exc.details)
    except web.HTTPRequestEntityTooLarge as exc:
        return error_response(request, 1004, f"request body too large: {exc.text}")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = 1000 if exc.status < 500 else 5000
        return error_response(request, code, exc.reason, status=exc.status)
    except json.JSONDecodeError as exc:
        return error_response(request, 1000, f"body is not valid JSON: {exc}")
    except Exception:
        trace = trace_id_of(request)
        log.exception("unhandled error on %s %s (trace_id=%s)", request.method, request.path, trace)
        return error_response(request, 5000, f"internal error; see the log for trace_id {trace}")
