"""Driven adapter: task and agent events fanned out to every orchestrator replica."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from collections import deque
from collections.abc import Callable
from typing import Final

from aiormq.abc import AbstractChannel, AbstractConnection, DeliveredMessage

from adapters.amqp.connection import AmqpConnection
from adapters.amqp.publisher import ConfirmingPublisher, Outgoing
from adapters.amqp.topology import Topology
from adapters.codec import (
    MalformedMessage,
    Unencodable,
    decode_events,
    encode_event,
    encode_events,
    events_origin,
)
from chiffon.credentials import ReplicaKey
from chiffon.events import Event
from chiffon.listeners import Listeners
from ports.notifier import EventSource, Listener, Notifier

log = logging.getLogger(__name__)

SIGNATURE: Final = "x-chiffon-signature"  # header: the replica key's HMAC of the body
MAX_NOTIFY_BYTES: Final = 16 * 1024 * 1024  # a batch is split before it gets this large
NOT_SIGNED: Final = "notify_not_signed"  # refusal reasons, as metrics count them
TOO_LARGE: Final = "notify_too_large"

BATCH = 200
CLOSE_FLUSH_S = 2.0


class AmqpNotifier(Notifier, EventSource):
    """`publish` hands an event to this replica's listeners at once and sends it to the notify
    fanout (batched: one AMQP message carries every event queued meanwhile); this replica's
    exclusive queue hands the other replicas' events to the local listeners, in the order the
    broker delivers them.
    Call `start()` once to begin listening (it survives reconnects)."""

    def __init__(
        self,
        connection: AmqpConnection,
        namespace: str = "chiffon",
        publisher: ConfirmingPublisher | None = None,
        *,
        key: ReplicaKey,
        max_bytes: int = MAX_NOTIFY_BYTES,
    ) -> None:
        self._key = key  # frames are signed with it, and heard only when signed with it
        self._max_bytes = max_bytes
        self.refused = 0  # notify messages refused: unsigned, forged or too large
        self.on_refused: Callable[[str], None] | None = None  # counts them (metrics)
        self._connection = connection
        self._topology = Topology(namespace)
        # Sharing the work bus's publisher (one channel) lets `flush` order events ahead of
        # the work published next without waiting for their confirm.
        self._owns_publisher = publisher is None
        self._publisher = publisher or ConfirmingPublisher(connection, self._topology.declare_base)
        self._writing = asyncio.Lock()  # events leave in the order they were queued
        self._unconfirmed: set[asyncio.Task[None]] = set()
        self._listeners = Listeners()
        self._channel: AbstractChannel | None = None
        self._queued: deque[Event] = deque()
        self._origin = uuid.uuid4().hex  # tells this replica's own events apart
        self._pump: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._connection.add_on_connect(self._start)

    async def _start(self, conn: AbstractConnection) -> None:
        ch = await conn.channel(publisher_confirms=False)
        await self._topology.declare_base(ch)
        queue = await self._topology.declare_notify_queue(ch)
        # no_ack: the queue is this replica's own and exclusive; an event lost with the
        # replica's connection is recovered by the snapshot a client gets on resubscribe.
        await ch.basic_consume(queue, self._on_delivery, no_ack=True)
        self._connection.supervise(ch)
        self._channel = ch

    async def publish(self, event: Event) -> None:
        """Hand the event to this replica's listeners at once, and queue it for the others: a
        pump sends queued events in order, many per AMQP message. The change is already
        stored: a broker outage is logged, never raised."""
        self.deliver(event)
        self._queued.append(event)
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._drain())

    async def flush(self) -> None:
        """Write every event published so far to the broker now, and return once written (not
        confirmed): what this publisher sends next (the work bus's publishes, when they share
        it) is routed after them. A broker outage is logged, never raised."""
        while self._queued:
            await self._send_batch(wait=False)

    async def _drain(self) -> None:
        # One batch awaits its confirm at a time: events queued meanwhile go out together.
        while self._queued:
            await self._send_batch(wait=True)

    async def _send_batch(self, wait: bool) -> None:
        async with self._writing:
            if not self._queued:
                return
            batch = [self._queued.popleft() for _ in range(min(len(self._queued), BATCH))]
            messages = [
                Outgoing(
                    self._topology.notify_exchange,
                    "",
                    body,
                    mandatory=False,
                    message_type="events",
                    headers={SIGNATURE: self._key.sign(body)},
                )
                for body in _bodies(batch, self._origin)
            ]
            try:
                sends = await self._publisher.send(messages)
            except Exception as exc:  # BusUnavailable, or a channel error aiormq raised
                _not_announced(len(batch), exc)
                return
        for send in sends:
            self._unconfirmed.add(send)
            send.add_done_callback(functools.partial(self._confirmed, len(batch)))
        if wait:
            await asyncio.wait(sends)

    def _confirmed(self, events: int, send: asyncio.Task[None]) -> None:
        self._unconfirmed.discard(send)
        if not send.cancelled() and send.exception() is not None:
            _not_announced(events, send.exception())

    async def _on_delivery(self, delivery: DeliveredMessage) -> None:
        if len(delivery.body) > self._max_bytes:
            self._refuse(TOO_LARGE, f"{len(delivery.body)} bytes; the limit is {self._max_bytes}")
            return
        if events_origin(delivery.body) == self._origin:
            return  # this replica's own events were delivered locally when published
        headers = delivery.header.properties.headers or {}
        signature = headers.get(SIGNATURE)
        if not isinstance(signature, str | bytes):
            self._refuse(NOT_SIGNED, "not signed by a replica")
            return
        text = signature.decode(errors="replace") if isinstance(signature, bytes) else signature
        if not self._key.signed(delivery.body, text):
            self._refuse(NOT_SIGNED, "a signature that is not the replicas' key's")
            return
        try:
            events = decode_events(delivery.body)
        except MalformedMessage as exc:
            log.warning("dropped a malformed notify message: %s", exc)
            return
        for event in events:  # no await: listeners see events in delivery order
            self.deliver(event)

    def _refuse(self, reason: str, why: str) -> None:
        """Only replicas hold the key: anything else on the notify exchange is dropped."""
        self.refused += 1
        if self.on_refused is not None:
            self.on_refused(reason)
        if self.refused == 1 or self.refused % 1000 == 0:
            log.warning("refused %d notify message(s); the last: %s", self.refused, why)

    def deliver(self, event: Event) -> None:
        """Hand `event` to every local listener, in order."""
        self._listeners.deliver(event)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        return self._listeners.subscribe(listener)

    async def close(self) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_FLUSH_S):
                if self._pump is not None:
                    await asyncio.shield(self._pump)
                if self._unconfirmed:
                    await asyncio.wait(list(self._unconfirmed))
        if self._pump is not None:
            self._pump.cancel()
        self._connection.remove_on_connect(self._start)
        ch, self._channel = self._channel, None
        if ch is not None:
            await self._connection.release(ch)
        if self._owns_publisher:
            await self._publisher.close()


def _not_announced(events: int, why: BaseException | None) -> None:
    log.warning("%d events not announced to other replicas: %s", events, why)


def _bodies(batch: list[Event], origin: str) -> list[bytes]:
    """The batch as few messages as fit under MAX_NOTIFY_BYTES each (halved until they do;
    one event alone that does not fit is logged and left out)."""
    body = _encode(batch, origin)
    if len(body) <= MAX_NOTIFY_BYTES:
        return [body]
    if len(batch) == 1:
        log.warning("an event of %d bytes not announced to other replicas", len(body))
        return []
    half = len(batch) // 2
    return _bodies(batch[:half], origin) + _bodies(batch[half:], origin)


def _encode(batch: list[Event], origin: str) -> bytes:
    """The batch as one message. An event that cannot be written as JSON is logged and left
    out, so it never takes the rest of its batch (or the pump) down with it."""
    try:
        return encode_events(batch, origin)
    except Unencodable:
        return encode_events(_encodable(batch), origin)


def _encodable(batch: list[Event]) -> list[Event]:
    kept = []
    for event in batch:
        try:
            encode_event(event)
        except Unencodable as exc:
            log.error("an event cannot be announced to other replicas: %s", exc)
            continue
        kept.append(event)
    return kept
