"""aiohttp's server plumbing, hardened: its own errors in our error body, a deadline for
request headers (a client that trickles them, slow-loris style, is cut off), and a cap on open
connections below the process's descriptor limit (past it: an immediate 429, not a hang).

aiohttp answers malformed requests (bad request line, headers too large) itself, before any
middleware, in text/plain; and it waits for headers as long as a connection stays open. Both
are changed here by subclassing its protocol class; tests/http/test_http_hygiene.py pins the
behaviour, so an aiohttp upgrade that moves these internals fails loudly.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
import uuid
from http import HTTPStatus
from typing import Any, Final

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_server import Server

from adapters.http.errors import error_body

log = logging.getLogger(__name__)

HEADER_TIMEOUT_S: Final = 10.0
KEEPALIVE_TIMEOUT_S: Final = 30.0
MAX_MESSAGE_CHARS: Final = 200


def connection_cap() -> int:
    """Connections to accept at most: the descriptor limit (RLIMIT_NOFILE, soft) less what the
    process needs besides (pools, broker, files, logs): an eighth of it, at least 64."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return UNLIMITED_CAP
    return max(MIN_CAP, soft - max(RESERVED_MIN, soft // 8))


UNLIMITED_CAP: Final = 100_000
MIN_CAP: Final = 16
RESERVED_MIN: Final = 64
REFUSAL_LOG_EVERY_S: Final = 10.0


class ChiffonRequestHandler(RequestHandler):
    """One HTTP connection (aiohttp's protocol) with the three changes above."""

    __slots__ = ("_header_count", "_header_timer", "_refused", "header_timeout_s")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._header_timer: asyncio.TimerHandle | None = None
        self.header_timeout_s = getattr(self._manager, "header_timeout_s", HEADER_TIMEOUT_S)
        self._header_count = 0
        self._refused = isinstance(self._manager, ChiffonServer) and self._manager.full()
        if self._refused:
            _refuse_connection(transport)
            return
        super().connection_made(transport)
        self._arm()  # the first request's headers are due from the moment of connecting

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        count = self._request_count
        super().data_received(data)
        if self._request_count != count or self._upgraded:
            self._disarm()  # headers complete (or a WebSocket now): the deadline is met
        elif self._header_timer is None and not self._request_in_progress and not self._messages:
            self._arm()  # the first bytes of a next request on a kept-alive connection

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        if self._refused:  # never counted, never started: nothing to undo
            self._manager = None
            return
        super().connection_lost(exc)

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """aiohttp's answer to a request it could not parse or handle, in our error body."""
        if request.writer.output_size > 0:
            raise ConnectionError("response already started; cannot send an error")
        if status >= 500:
            log.error("error handling a request", exc_info=exc)
            text = "internal error"
        else:
            log.info("refused a malformed request (%d): %.200s", status, message or exc)
            text = _safe(message or HTTPStatus(status).phrase)
        resp = web.Response(
            status=status,
            body=error_body(1000 if status < 500 else 5000, text, str(uuid.uuid4())),
            content_type="application/json",
        )
        resp.force_close()
        return resp

    def _arm(self) -> None:
        self._disarm()
        self._header_count = self._request_count
        self._header_timer = self._loop.call_later(self.header_timeout_s, self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        waiting = self._request_count == self._header_count and not self._request_in_progress
        if not waiting or self._upgraded or self.transport is None:
            return
        body = error_body(1006, "request headers did not arrive in time", str(uuid.uuid4()))
        head = (
            "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        log.info("closed a connection whose request headers took over %gs", self.header_timeout_s)
        self.transport.write(head.encode() + body)
        self.force_close()  # closes the transport (and forgets it: no second close here)


def _safe(message: str) -> str:
    """aiohttp's messages may quote the client's bytes: keep them short and printable."""
    text = ascii(message)[1:-1] if not message.isprintable() else message
    return text[:MAX_MESSAGE_CHARS]


def _refuse_connection(transport: asyncio.BaseTransport) -> None:
    """At the cap: say so at once and close, reading nothing (a held descriptor is the cost)."""
    body = error_body(4290, "the server holds as many connections as it may; try again later", None)
    head = (
        "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
    )
    assert isinstance(transport, asyncio.WriteTransport)
    transport.write(head.encode() + body)
    transport.close()


class ChiffonServer(Server):
    """Makes ChiffonRequestHandler protocols instead of aiohttp's own, and counts the
    connections it refused at the cap (logged at most once every 10 s)."""

    header_timeout_s: float = HEADER_TIMEOUT_S
    max_connections: int = UNLIMITED_CAP
    refused = 0
    _refusals_logged_at = float("-inf")

    def __call__(self) -> RequestHandler:
        return ChiffonRequestHandler(self, loop=self._loop, **self._kwargs)

    def full(self) -> bool:
        if len(self.connections) < self.max_connections:
            return False
        self.refused += 1
        now = time.monotonic()
        if now - self._refusals_logged_at >= REFUSAL_LOG_EVERY_S:
            self._refusals_logged_at = now
            log.warning(
                "at the cap of %d open connections: refused %d so far (429/4290)",
                self.max_connections,
                self.refused,
            )
        return True


class ChiffonAppRunner(web.AppRunner):
    """An AppRunner whose server uses ChiffonRequestHandler."""

    def __init__(
        self,
        app: web.Application,
        header_timeout_s: float = HEADER_TIMEOUT_S,
        max_connections: int | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("keepalive_timeout", KEEPALIVE_TIMEOUT_S)
        super().__init__(app, **kwargs)
        self._header_timeout_s = header_timeout_s
        self.max_connections = connection_cap() if max_connections is None else max_connections

    async def _make_server(self) -> Server:
        server = await super()._make_server()
        server.__class__ = ChiffonServer  # same class otherwise; only __call__ differs
        assert isinstance(server, ChiffonServer)
        server.header_timeout_s = self._header_timeout_s
        server.max_connections = self.max_connections
        return server
