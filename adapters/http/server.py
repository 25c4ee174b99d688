"""aiohttp's server plumbing, hardened: its own errors in our error body, and a deadline for
request headers (a client that trickles them, slow-loris style, is cut off).

aiohttp answers malformed requests (bad request line, headers too large) itself, before any
middleware, in text/plain; and it waits for headers as long as a connection stays open. Both
are changed here by subclassing its protocol class; tests/http/test_http_hygiene.py pins the
behaviour, so an aiohttp upgrade that moves these internals fails loudly.
"""

from __future__ import annotations

import asyncio
import logging
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


class ChiffonRequestHandler(RequestHandler):
    """One HTTP connection (aiohttp's protocol) with the two changes above."""

    __slots__ = ("_header_count", "_header_timer", "header_timeout_s")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._header_timer: asyncio.TimerHandle | None = None
        self.header_timeout_s = getattr(self._manager, "header_timeout_s", HEADER_TIMEOUT_S)
        self._header_count = 0
        super().connection_made(transport)
        self._arm()  # the first request's headers are due from the moment of connecting

    def data_received(self, data: bytes) -> None:
        count = self._request_count
        super().data_received(data)
        if self._request_count != count or self._upgraded:
            self._disarm()  # headers complete (or a WebSocket now): the deadline is met
        elif self._header_timer is None and not self._request_in_progress and not self._messages:
            self._arm()  # the first bytes of a next request on a kept-alive connection

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
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
        self.force_close()
        self.transport.close()


def _safe(message: str) -> str:
    """aiohttp's messages may quote the client's bytes: keep them short and printable."""
    text = ascii(message)[1:-1] if not message.isprintable() else message
    return text[:MAX_MESSAGE_CHARS]


class ChiffonServer(Server):
    """Makes ChiffonRequestHandler protocols instead of aiohttp's own."""

    header_timeout_s: float = HEADER_TIMEOUT_S

    def __call__(self) -> RequestHandler:
        return ChiffonRequestHandler(self, loop=self._loop, **self._kwargs)


class ChiffonAppRunner(web.AppRunner):
    """An AppRunner whose server uses ChiffonRequestHandler."""

    def __init__(
        self, app: web.Application, header_timeout_s: float = HEADER_TIMEOUT_S, **kwargs: Any
    ) -> None:
        kwargs.setdefault("keepalive_timeout", KEEPALIVE_TIMEOUT_S)
        super().__init__(app, **kwargs)
        self._header_timeout_s = header_timeout_s

    async def _make_server(self) -> Server:
        server = await super()._make_server()
        server.__class__ = ChiffonServer  # same class otherwise; only __call__ differs
        assert isinstance(server, ChiffonServer)
        server.header_timeout_s = self._header_timeout_s
        return server
