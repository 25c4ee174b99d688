"""WebSocketHub: one EventSource subscription fanned out to every WebSocket connection."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Final

from aiohttp import WSCloseCode, web

from adapters.http.ws_connection import Connection, FrameSink
from adapters.http.ws_protocol import OutEvent
from chiffon.events import Event
from ports.notifier import EventSource

log = logging.getLogger(__name__)

DEFAULT_QUEUE_SIZE: Final = 1000
DEFAULT_HEARTBEAT_S: Final = 20.0


class WebSocketHub:
    """Listens once to `events` (in-process or AMQP, both call listeners in publish order on
    the event loop) and offers each event to every connection, without ever awaiting."""

    def __init__(
        self,
        events: EventSource,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        heartbeat_s: float = DEFAULT_HEARTBEAT_S,
    ) -> None:
        if queue_size < 1:
            raise ValueError("the WebSocket queue size must be at least 1")
        self.queue_size = queue_size
        self.heartbeat_s = heartbeat_s
        self._events = events
        self._connections: dict[Connection, None] = {}
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def connections(self) -> list[Connection]:
        return list(self._connections)

    def start(self) -> None:
        if self._unsubscribe is None:
            self._unsubscribe = self._events.subscribe(self._on_event)

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def connect(self, sink: FrameSink) -> Connection:
        conn = Connection(sink, self.queue_size)
        conn.start()
        self._connections[conn] = None
        return conn

    async def disconnect(self, conn: Connection) -> None:
        self._connections.pop(conn, None)
        await conn.stop()

    async def close_all(self, code: int = WSCloseCode.GOING_AWAY, reason: str = "") -> None:
        closing = [c.close(code, reason or "server shutting down") for c in self.connections]
        await asyncio.gather(*closing, return_exceptions=True)

    def _on_event(self, event: Event) -> None:
        out = OutEvent(event)
        for conn in list(self._connections):
            try:
                conn.offer(out)
            except Exception:  # one broken connection must not starve the others
                log.exception("WebSocket connection failed on %s", event.kind)
                conn.evict("internal error", WSCloseCode.INTERNAL_ERROR)

    async def on_shutdown(self, _: web.Application) -> None:
        await self.close_all()

    async def lifecycle(self, _: web.Application) -> AsyncIterator[None]:
        """cleanup_ctx: listen while the app runs; then stop every connection's tasks."""
        self.start()
        yield
        self.stop()
        await asyncio.gather(*(self.disconnect(c) for c in self.connections))
