"""A call's correlation ids: the caller's X-Trace-Id and X-Request-Id in, both on every answer.

One trace id follows a call into its task, the task's events, the server's log lines and the
agent's: a dispatch without a trace_id in its body takes the caller's X-Trace-Id (and
X-Request-Id likewise), and the answer says which ids were used. Values that are not UUIDs
are ignored (never echoed or logged): a fresh id is used instead.
"""

from __future__ import annotations

import uuid
from typing import Final
from uuid import UUID

from aiohttp import web

TRACE_HEADER: Final = "X-Trace-Id"
REQUEST_HEADER: Final = "X-Request-Id"
TRACE_KEY: Final = "chiffon_trace_id"
REQUEST_KEY: Final = "chiffon_request_id"
TASK_KEY: Final = "chiffon_task_id"
MAX_HEADER_CHARS: Final = 64


def given(request: web.BaseRequest, header: str) -> UUID | None:
    """The caller's id in `header`, when it is a UUID."""
    value = request.headers.get(header)
    if not value or len(value) > MAX_HEADER_CHARS:
        return None
    try:
        return UUID(value)
    except ValueError:
        return None


def trace_id_of(request: web.BaseRequest) -> str:
    """The call's trace id: the task's when the call made or named one, else the caller's,
    else a fresh one (kept for the rest of the call)."""
    # One lookup (a request's `in` is Mapping's, a lookup and a KeyError when absent).
    found = request.get(TRACE_KEY)
    if found is None:
        found = request[TRACE_KEY] = str(given(request, TRACE_HEADER) or uuid.uuid4())
    return str(found)


def request_id_of(request: web.BaseRequest) -> str:
    found = request.get(REQUEST_KEY)
    if found is None:
        found = request[REQUEST_KEY] = str(given(request, REQUEST_HEADER) or uuid.uuid4())
    return str(found)


def task_id_of(request: web.BaseRequest) -> str | None:
    """The task the call is about: set by the route that made it, else the path's task_id."""
    found = request.get(TASK_KEY)
    if found is not None:
        return str(found)
    match_info = getattr(request, "match_info", None)
    text = None if match_info is None else match_info.get("task_id")
    try:  # a client's path segment is logged only when it is an id
        return None if text is None or len(text) > MAX_HEADER_CHARS else str(UUID(text))
    except ValueError:
        return None


def about_task(request: web.BaseRequest, task_id: str, trace_id: str, request_id: str) -> None:
    """The call made (or found again) this task: its ids (as text) are the call's from now on."""
    request[TASK_KEY] = task_id
    request[TRACE_KEY] = trace_id
    request[REQUEST_KEY] = request_id


def stamp(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """Before an answer goes out (app.py's on_response_prepare): every answer (errors and the
    WebSocket's 101 included) carries both ids, so a caller that sent none can still quote
    them."""
    response.headers[TRACE_HEADER] = trace_id_of(request)
    response.headers[REQUEST_HEADER] = request_id_of(request)
