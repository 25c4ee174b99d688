"""One WebSocket client: its subscriptions, its bounded outgoing queue and its writer task."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final, Protocol

from aiohttp import WSCloseCode

from adapters.http.ws_protocol import OutEvent, ProtocolError, Subscription, snapshot_frame
from adapters.http.ws_snapshot import Item, Key, Snapshot, is_covered, key, newest

log = logging.getLogger(__name__)

MAX_SUBSCRIPTIONS: Final = 100
CLOSE_TIMEOUT_S: Final = 5.0


class FrameSink(Protocol):
    """The part of aiohttp's WebSocketResponse a connection writes to."""

    async def send_str(self, data: str) -> None: ...

    async def close(self, *, code: int, message: bytes) -> bool: ...


class Connection:
    """Frames go out in the order they are queued. `offer` is called synchronously for every
    event and never blocks: when the queue is full the client is closed with 1013."""

    def __init__(self, sink: FrameSink, queue_size: int) -> None:
        self._sink = sink
        self._queue: asyncio.Queue[str] = asyncio.Queue(queue_size)
        self._active: dict[Subscription, None] = {}
        self._pending: Subscription | None = None
        self._buffer: list[tuple[OutEvent, bool]] = []  # (event, already pushed)
        self._seq = 0
        self._writer: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None
        self.closing = False

    @property
    def subscriptions(self) -> list[Subscription]:
        return list(self._active)

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write(), name="ws-writer")

    def offer(self, out: OutEvent) -> None:
        """Push `out` if a subscription wants it (once, however many match); while a snapshot
        is being read, also remember it for that subscription."""
        if self.closing:
            return
        pushed = any(s.matches(out.event) for s in self._active)
        if pushed:
            self._push(out)
        if self._pending is not None and self._pending.matches(out.event):
            if len(self._buffer) >= self._queue.maxsize:
                self.evict("too many changes while the snapshot was read")
            else:
                self._buffer.append((out, pushed))

    def begin(self, sub: Subscription) -> None:
        """Start remembering `sub`'s events; call before reading its snapshot."""
        if sub not in self._active and len(self._active) >= MAX_SUBSCRIPTIONS:
            raise ProtocolError(
                "too many subscriptions", {"subscription": [f"At most {MAX_SUBSCRIPTIONS}."]}
            )
        self._pending, self._buffer = sub, []

    def abort(self) -> None:
        self._pending, self._buffer = None, []

    def complete(self, snapshot: Snapshot) -> None:
        """Send the snapshot, then the events remembered meanwhile that it does not cover,
        then activate the subscription: all in one step, so no event can slip in between."""
        sub, buffered = self._pending, self._buffer
        self.abort()
        if sub is None or self.closing:
            return
        copies: dict[Key, Item] = {key(i): i for i in snapshot.items}
        for out, pushed in buffered:
            if pushed:  # the client saw it already: the snapshot must not be older
                copies[key(out.item)] = newest(copies.get(key(out.item)), out.item)
        self.send(snapshot_frame(sub, list(copies.values()), snapshot.truncated))
        for out, pushed in buffered:
            if not pushed and not is_covered(out.item, copies.get(key(out.item))):
                self._push(out)
        self._active[sub] = None

    def unsubscribe(self, sub: Subscription) -> None:
        self._active.pop(sub, None)

    def send(self, frame: str) -> None:
        if self.closing:
            return
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.evict(f"client too slow: {self._queue.maxsize} frames waiting")

    def _push(self, out: OutEvent) -> None:
        self._seq += 1
        self.send(out.frame(self._seq))

    def evict(self, reason: str, code: int = WSCloseCode.TRY_AGAIN_LATER) -> None:
        """Close the connection in the background; nothing more is queued."""
        if self._closer is None:
            self.closing = True
            level = logging.WARNING if code == WSCloseCode.TRY_AGAIN_LATER else logging.INFO
            log.log(level, "closing a WebSocket client (%d): %s", code, reason)
            self._closer = asyncio.create_task(self._close(code, reason), name="ws-close")

    async def close(self, code: int, reason: str) -> None:
        self.evict(reason, code)
        assert self._closer is not None
        await asyncio.shield(self._closer)

    async def stop(self) -> None:
        """The client is gone: finish a close in progress, stop the writer."""
        self.closing = True
        if self._closer is not None:
            await asyncio.shield(self._closer)
        await self._stop_writer()

    async def _close(self, code: int, reason: str) -> None:
        await self._stop_writer()
        with contextlib.suppress(Exception):  # a peer that is gone cannot hear it anyway
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await self._sink.close(code=code, message=reason.encode()[:123])

    async def _stop_writer(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)

    async def _write(self) -> None:
        try:
            while True:
                await self._sink.send_str(await self._queue.get())
        except Exception as exc:  # the peer went away; the reader side ends the connection
            log.info("WebSocket write failed: %s", exc or type(exc).__name__)
            self.closing = True
