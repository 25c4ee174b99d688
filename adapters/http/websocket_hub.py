"""WebSocketHub: one EventSource subscription fanned out to every WebSocket connection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Final

from aiohttp import WSCloseCode, web

from adapters.http.edge_errors import TooManyConnections
from adapters.http.ws_connection import Connection, FrameSink
from adapters.http.ws_fair_gate import FairGate
from adapters.http.ws_index import SubscriptionIndex
from adapters.http.ws_limits import ByteBudget, WsLimits
from adapters.http.ws_protocol import OutEvent
from chiffon.events import Event
from ports.notifier import EventSource

log = logging.getLogger(__name__)

DEFAULT_HEARTBEAT_S: Final = 20.0


class WebSocketHub:
    """Listens once to `events` (in-process or AMQP, both call listeners in publish order on
    the event loop) and offers each event to every connection, without ever awaiting. It
    also holds what all connections share: the byte budget, the count of connections per
    client address, and the gate that lets only a few snapshots be read at once."""

    def __init__(
        self,
        events: EventSource,
        limits: WsLimits | None = None,
        heartbeat_s: float = DEFAULT_HEARTBEAT_S,
    ) -> None:
        self.limits = limits or WsLimits()
        self.heartbeat_s = heartbeat_s
        self.snapshots = FairGate(self.limits.snapshots_at_once)
        self._events = events
        self._budget = ByteBudget(self.limits.total_bytes)
        self._connections: dict[Connection, str] = {}
        self._per_client: dict[str, int] = {}  # connections and pending sockets, by address
        self._pending = 0  # sockets upgraded and not yet authenticated (not in _connections)
        self._unsubscribe: Callable[[], None] | None = None
        self._index = SubscriptionIndex[Connection]()

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

    def admit(self, client: str) -> None:
        """Raise TooManyConnections when `client` (an address) or the server is at its limit;
        call before the upgrade, so a refusal is a plain HTTP 429. Sockets still waiting to
        authenticate count too."""
        if len(self._connections) + self._pending >= self.limits.max_connections:
            raise TooManyConnections(
                "the server holds as many WebSocket connections as it may; try again later",
                {"limit": self.limits.max_connections},
            )
        if self._per_client.get(client, 0) >= self.limits.max_per_client:
            raise TooManyConnections(
                "too many WebSocket connections from this address; close some first",
                {"limit": self.limits.max_per_client},
            )

    @contextlib.contextmanager
    def pending(self, client: str) -> Iterator[None]:
        """Holds a place for `client` while its socket authenticates; `connect` (called right
        after, with no await between) takes the place over."""
        self._pending += 1
        self._count(client, +1)
        try:
            yield
        finally:
            self._pending -= 1
            self._count(client, -1)

    def _count(self, client: str, change: int) -> None:
        left = self._per_client.get(client, 0) + change
        if left > 0:
            self._per_client[client] = left
        else:
            self._per_client.pop(client, None)

    def connect(
        self, sink: FrameSink, client: str = "", abort: Callable[[], None] | None = None
    ) -> Connection:
        conn = Connection(sink, self.limits, self._budget, abort, self._index, client)
        conn.start()
        self._connections[conn] = client
        self._count(client, +1)
        return conn

    async def disconnect(self, conn: Connection) -> None:
        client = self._connections.pop(conn, None)
        if client is not None:
            self._count(client, -1)
        await conn.stop()

    @property
    def queued_bytes(self) -> int:
        """Bytes waiting to be written to all clients together."""
        return self._budget.used

    async def close_all(self, code: int = WSCloseCode.GOING_AWAY, reason: str = "") -> None:
        closing = [c.close(code, reason or "server shutting down") for c in self.connections]
        await asyncio.gather(*closing, return_exceptions=True)

    def _on_event(self, event: Event) -> None:
        """Offered only to the connections that hold a subscription the event matches (the
        index): the cost of a change does not grow with everyone else's subscriptions. With
        no subscription at all (an API used only by polling), nothing is built."""
        if not self._index:
            return
        out = OutEvent(event)
        for conn in list(self._index.interested(out.wanted)):
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
