"""The one middleware every request goes through: its gate (the Host check, or the bearer
token), every failure answered as {error_code, ...}, then its metrics and its access line.

One layer, not three: each middleware layer is a coroutine and a frame on every request, and
the three always ran together, in this order."""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from adapters.http.errors import Handler, close_if_unread, error_answer
from adapters.http.metrics.middleware import request_observer
from adapters.http.metrics.registry import ChiffonMetrics

# Raises a ChiffonError (answered like any failure) to refuse a request; returns to let it in.
Guard = Callable[[web.Request], None]


def edge_middleware(metrics: ChiffonMetrics, guard: Guard) -> Middleware:
    observe = request_observer(metrics)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        try:
            guard(request)
            response = await handler(request)
        except Exception as exc:
            response = error_answer(request, exc)  # a redirect is raised again: not observed
        close_if_unread(request, response)
        observe(request, response, time.perf_counter() - started)
        return response

    return middleware
