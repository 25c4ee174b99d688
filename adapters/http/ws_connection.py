"""One WebSocket client: its subscriptions, its bounded outgoing queue and its writer task."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from typing import Final, Protocol
from uuid import UUID

from aiohttp import WSCloseCode, WSMsgType

from adapters.http.ws_index import SubscriptionIndex
from adapters.http.ws_limits import ByteBudget, WsLimits
from adapters.http.ws_protocol import OutEvent, ProtocolError, Subscription, snapshot_frame
from adapters.http.ws_snapshot import Item, Key, Snapshot, is_covered, key, newest
from chiffon.events import TaskChanged
from chiffon.model import Task

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S: Final = 5.0
# Tasks whose last pushed revision a connection remembers (least recently pushed out first):
# changes of one task from two replicas can cross on the way, only for a few milliseconds.
REMEMBERED_TASKS: Final = 512


class FrameSink(Protocol):
    """The part of aiohttp's WebSocketResponse a connection writes to."""

    async def send_frame(
        self, message: bytes, opcode: WSMsgType, compress: int | None = None
    ) -> None: ...

    async def close(self, *, code: int, message: bytes) -> bool: ...


class Connection:
    """Frames go out in the order they are queued. `offer` is called synchronously for every
    event and never blocks. What waits to be written is bounded in frames and in bytes, for
    this client and (through `budget`) for all clients together: past a bound the client is
    closed with 1013 and what it had queued is freed at once."""

    def __init__(
        self,
        sink: FrameSink,
        limits: WsLimits,
        budget: ByteBudget | None = None,
        abort: Callable[[], None] | None = None,
        index: SubscriptionIndex[Connection] | None = None,
        client: str = "",
    ) -> None:
        self._sink = sink
        self.client = client  # the peer's address: snapshots are shared fairly by address
        # the hub's index, shared
        self._index = SubscriptionIndex[Connection]() if index is None else index
        self._limits = limits
        self._budget = budget or ByteBudget(limits.total_bytes)
        self._abort = abort
        # UTF-8, encoded once: the transport writes these very bytes, so what is counted is
        # what is held (a str queued would be held twice while written: text and bytes).
        self._queue: deque[bytes] = deque()
        self._ready = asyncio.Event()
        self.queued_bytes = 0
        self._active: dict[Subscription, None] = {}
        self._pending: Subscription | None = None
        self._buffer: list[tuple[OutEvent, bool]] = []  # (event, already pushed)
        self._seq = 0
        self._pushed: OrderedDict[UUID, int] = OrderedDict()  # task_id -> last revision sent
        self._writer: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None
        self.closing = False

    @property
    def subscriptions(self) -> list[Subscription]:
        return list(self._active)

    def start(self) -> None:
        self._budget.members[self] = None
        self._writer = asyncio.create_task(self._write(), name="ws-writer")

    def offer(self, out: OutEvent) -> None:
        """Push `out` if a subscription wants it (once, however many match); while a snapshot
        is being read, also remember it for that subscription."""
        if self.closing:
            return
        pushed = any(s in self._active for s in out.wanted)
        if pushed:
            self._push(out)
        if self._pending is not None and self._pending in out.wanted:
            if len(self._buffer) >= self._limits.queue_frames:
                self.evict("too many changes while the snapshot was read")
            else:
                self._buffer.append((out, pushed))

    def begin(self, sub: Subscription) -> None:
        """Start remembering `sub`'s events; call before reading its snapshot."""
        limit = self._limits.max_subscriptions
        if sub not in self._active and len(self._active) >= limit:
            raise ProtocolError("too many subscriptions", {"subscription": [f"At most {limit}."]})
        self.abort()
        self._pending, self._buffer = sub, []
        self._index.add(sub, self)

    def abort(self) -> None:
        if self._pending is not None:
            self._index.remove(self._pending, self)
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
        frame = snapshot_frame(sub, list(copies.values()), snapshot.truncated, snapshot.summary)
        self.send(frame)
        for item in copies.values():
            if isinstance(item, Task):
                self._remember(item)
        for out, pushed in buffered:
            if not pushed and not is_covered(out.item, copies.get(key(out.item))):
                self._push(out)
        self._activate(sub)

    def resume(self, missed: Sequence[TaskChanged], seen: int) -> None:
        """Instead of a snapshot: the task at each revision the client missed (it had seen up
        to `seen`), then the changes remembered meanwhile that are newer, then live ones."""
        sub, buffered = self._pending, self._buffer
        self.abort()
        if sub is None or self.closing:
            return
        high = seen
        if isinstance(sub.value, UUID):  # the client says what it saw: replay from there
            self._pushed.pop(sub.value, None)
        for change in missed:
            if change.task.revision > high:
                self._push(OutEvent(change))
                high = change.task.revision
        for out, pushed in buffered:
            item = out.item
            if not pushed and isinstance(item, Task) and item.revision > high:
                self._push(out)
                high = item.revision
        self._activate(sub)

    def _activate(self, sub: Subscription) -> None:
        if sub not in self._active:
            self._active[sub] = None
            self._index.add(sub, self)

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._active:
            del self._active[sub]
            self._index.remove(sub, self)

    def _forget_subscriptions(self) -> None:
        """Out of the index for good: a closing connection is offered nothing more."""
        self.abort()
        for sub in list(self._active):
            self.unsubscribe(sub)

    def send(self, text: str) -> None:
        if self.closing:
            return
        frame = text.encode()
        size = len(frame)
        if len(self._queue) >= self._limits.queue_frames:
            self.evict(f"client too slow: {len(self._queue)} frames waiting")
        elif self.queued_bytes + size > self._limits.queue_bytes:
            self.evict(f"client too slow: {self.queued_bytes + size} bytes waiting")
        elif not self._budget.take(size, self):
            self.evict("server WebSocket memory budget exhausted")
        else:
            self.queued_bytes += size
            self._queue.append(frame)
            self._ready.set()

    def _push(self, out: OutEvent) -> None:
        event = out.event
        if isinstance(event, TaskChanged):  # never a task going backwards: drop an older copy
            if self._pushed.get(event.task.task_id, 0) >= event.task.revision:
                return
            self._remember(event.task)
        self._seq += 1
        self.send(out.frame(self._seq))

    def _remember(self, task: Task) -> None:
        if self._pushed.get(task.task_id, 0) < task.revision:
            self._pushed[task.task_id] = task.revision
        self._pushed.move_to_end(task.task_id)
        if len(self._pushed) > REMEMBERED_TASKS:
            self._pushed.popitem(last=False)

    def evict(self, reason: str, code: int = WSCloseCode.TRY_AGAIN_LATER) -> None:
        """Close the connection in the background; nothing more is queued and what waited is
        freed now."""
        if self._closer is None:
            self.closing = True
            self._forget_subscriptions()
            self._drop_queue()
            level = logging.WARNING if code == WSCloseCode.TRY_AGAIN_LATER else logging.INFO
            log.log(level, "closing a WebSocket client (%d): %s", code, reason)
            self._closer = asyncio.create_task(self._close(code, reason), name="ws-close")

    async def close(self, code: int, reason: str) -> None:
        self.evict(reason, code)
        assert self._closer is not None
        await asyncio.shield(self._closer)

    async def stop(self) -> None:
        """The client is gone: finish a close in progress, stop the writer, free its queue."""
        self.closing = True
        self._forget_subscriptions()
        if self._closer is not None:
            await asyncio.shield(self._closer)
        await self._stop_writer()
        self._drop_queue()
        self._budget.members.pop(self, None)

    async def _close(self, code: int, reason: str) -> None:
        await self._stop_writer()
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await self._sink.close(code=code, message=reason.encode()[:123])
        except Exception:  # a peer that does not read cannot hear it: cut the connection
            if self._abort is not None:
                self._abort()

    async def _stop_writer(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)

    def _drop_queue(self) -> None:
        self._budget.give_back(self.queued_bytes)
        self.queued_bytes = 0
        self._queue.clear()

    async def _write(self) -> None:
        try:
            while True:
                while not self._queue:
                    self._ready.clear()
                    await self._ready.wait()
                frame = self._queue[0]  # still counted while it is being written
                await self._sink.send_frame(frame, WSMsgType.TEXT)
                if self.closing:  # evicted meanwhile: its queue was freed already
                    return
                self._queue.popleft()
                self.queued_bytes -= len(frame)
                self._budget.give_back(len(frame))
        except Exception as exc:  # the peer went away; the reader side ends the connection
            log.info("WebSocket write failed: %s", exc or type(exc).__name__)
            self.closing = True
