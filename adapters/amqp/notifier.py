"""Driven adapter: task and agent events fanned out to every orchestrator replica."""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiormq.abc import AbstractChannel, AbstractConnection, DeliveredMessage

from adapters.amqp.connection import AmqpConnection
from adapters.amqp.delivery import settle
from adapters.amqp.publisher import ConfirmingPublisher, Outgoing
from adapters.amqp.topology import Topology
from adapters.codec import MalformedMessage, decode_event, encode_event
from chiffon.events import Event
from ports.bus import BusUnavailable
from ports.notifier import EventSource, Listener, Notifier

log = logging.getLogger(__name__)


class AmqpNotifier(Notifier, EventSource):
    """`publish` sends to the notify fanout; this replica's exclusive queue hands every event
    (its own included) to the local listeners, in the order the broker delivers them.
    Call `start()` once to begin listening (it survives reconnects)."""

    def __init__(self, connection: AmqpConnection, namespace: str = "chiffon") -> None:
        self._connection = connection
        self._topology = Topology(namespace)
        self._publisher = ConfirmingPublisher(connection, self._topology.declare_base)
        self._listeners: list[Listener] = []
        self._channel: AbstractChannel | None = None

    async def start(self) -> None:
        await self._connection.add_on_connect(self._start)

    async def _start(self, conn: AbstractConnection) -> None:
        ch = await conn.channel(publisher_confirms=False)
        await self._topology.declare_base(ch)
        queue = await self._topology.declare_notify_queue(ch)
        await ch.basic_consume(queue, self._on_delivery)
        self._connection.supervise(ch)
        self._channel = ch

    async def publish(self, event: Event) -> None:
        # The change is already stored: a broker outage must not fail the caller's use case.
        outgoing = Outgoing(
            self._topology.notify_exchange,
            "",
            encode_event(event),
            mandatory=False,
            message_type=event.kind,
        )
        try:
            await self._publisher.publish([outgoing])
        except BusUnavailable as exc:
            log.warning("event %s not announced to other replicas: %s", event.kind, exc)

    async def _on_delivery(self, delivery: DeliveredMessage) -> None:
        try:
            event = decode_event(delivery.body)
        except MalformedMessage as exc:
            log.warning("dead-lettering a notify message: %s", exc)
            await settle(delivery, "dead")
            return
        self.deliver(event)  # before any await: listeners see events in delivery order
        await settle(delivery, "ack")

    def deliver(self, event: Event) -> None:
        """Hand `event` to every local listener, in order; a failing listener harms no other."""
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("event listener failed")

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    async def close(self) -> None:
        self._connection.remove_on_connect(self._start)
        ch, self._channel = self._channel, None
        if ch is not None:
            await self._connection.release(ch)
        await self._publisher.close()
