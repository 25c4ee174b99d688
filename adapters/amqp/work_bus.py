"""Driven adapter: the orchestrator's side of the RabbitMQ bus (publish work, consume reports)."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Sequence
from uuid import UUID

import aiormq
from aiormq.abc import AbstractChannel, AbstractConnection, DeliveredMessage

from adapters.amqp.connection import AmqpConnection
from adapters.amqp.delivery import BatchedSettler, Spawner
from adapters.amqp.publisher import ConfirmingPublisher, Outgoing
from adapters.amqp.topology import Topology
from adapters.codec import MalformedMessage, Unencodable, decode_message, encode_message
from chiffon.model import AgentMessage, Cancel, OutboxMessage, TaskAnnouncement, WorkRequest
from ports.bus import AgentMessageHandler, BusUnavailable, PartiallyPublished, Rejected, WorkBus

log = logging.getLogger(__name__)

EVENTS_PREFETCH = 64
RETRY_DELAY_S = 0.2
CLOSE_GRACE_S = 5.0


def _payload(message: OutboxMessage) -> WorkRequest | Cancel:
    if isinstance(message.payload, TaskAnnouncement):
        raise TypeError("announcements go to the notifier, not the work bus")
    return message.payload


class AmqpWorkBus(WorkBus):
    """Publishes work (persistent, by priority, mandatory) and cancels with confirms, and
    consumes results, statuses and heartbeats, acking each only after the handler returned."""

    def __init__(
        self,
        connection: AmqpConnection,
        namespace: str = "chiffon",
        prefetch: int = EVENTS_PREFETCH,
        retry_delay_s: float = RETRY_DELAY_S,
    ) -> None:
        self._connection = connection
        self._topology = Topology(namespace)
        self._prefetch = prefetch
        self._retry_delay_s = retry_delay_s
        self._publisher = ConfirmingPublisher(connection, self._prepare_publish_channel)
        self._declared: set[str] = set()
        self._handler: AgentMessageHandler | None = None
        self._on_refused: Callable[[str], None] | None = None
        self._channel: AbstractChannel | None = None
        self._spawner = Spawner()

    @property
    def publisher(self) -> ConfirmingPublisher:
        """The confirm channel work goes out on, for the notifier to share (ordering)."""
        return self._publisher

    async def publish(self, messages: Sequence[OutboxMessage]) -> Rejected:
        ch = await self._publisher.channel()
        rejected: dict[UUID, str] = {}
        sendable: list[OutboxMessage] = []
        outgoing: list[Outgoing] = []
        for message in messages:
            try:
                body = encode_message(_payload(message), from_agent="orchestrator")
            except Unencodable as exc:  # never sendable: not a reason to hold the others
                rejected[message.message_id] = str(exc)
                continue
            sendable.append(message)
            outgoing.append(await self._outgoing(ch, message, body))
        outcomes = await self._publisher.publish_each(outgoing, ch)
        failures = [o for o in outcomes if o is not None]
        if not failures:
            return rejected
        self._declared = set()  # a returned publish may mean a deleted queue: declare again
        done = frozenset(
            [m.message_id for m, o in zip(sendable, outcomes, strict=True) if o is None]
            + list(rejected)
        )
        why = f"{len(failures)} of {len(messages)} publishes not confirmed: {failures[0]!r}"
        if done:
            raise PartiallyPublished(why, done, rejected) from failures[0]
        raise BusUnavailable(why) from failures[0]

    async def _outgoing(self, ch: AbstractChannel, message: OutboxMessage, body: bytes) -> Outgoing:
        payload = message.payload
        if isinstance(payload, WorkRequest):
            await self._declare_work_queue(ch, payload.agent_type)
            return Outgoing(
                self._topology.work_exchange,
                payload.agent_type,
                body,
                priority=payload.priority,
                message_type="work_request",
            )
        # A cancel nobody listens to (no agent connected) is not an error: not mandatory.
        return Outgoing(
            self._topology.control_exchange, "", body, mandatory=False, message_type="cancel"
        )

    async def _prepare_publish_channel(self, ch: AbstractChannel) -> None:
        self._declared = set()  # a new channel means a possibly new broker: declare again
        await self._topology.declare_base(ch)

    async def _declare_work_queue(self, ch: AbstractChannel, agent_type: str) -> None:
        if agent_type in self._declared:
            return
        try:
            await self._topology.declare_work_queue(ch, agent_type)
        except (aiormq.AMQPError, ConnectionError, RuntimeError) as exc:
            raise BusUnavailable(f"cannot declare the {agent_type} work queue: {exc!r}") from exc
        self._declared.add(agent_type)

    async def consume_agent_messages(
        self, handler: AgentMessageHandler, on_refused: Callable[[str], None] | None = None
    ) -> None:
        self._handler = handler
        self._on_refused = on_refused
        await self._connection.add_on_connect(self._start_consuming)

    async def _start_consuming(self, conn: AbstractConnection) -> None:
        ch = await conn.channel(publisher_confirms=False)
        await self._topology.declare_base(ch)
        await ch.basic_qos(prefetch_count=self._prefetch)
        on_delivery = functools.partial(self._on_delivery, BatchedSettler(ch))
        for queue in (self._topology.results_queue, self._topology.heartbeats_queue):
            await ch.basic_consume(queue, on_delivery)
        self._connection.supervise(ch)
        self._channel = ch

    async def _on_delivery(self, settler: BatchedSettler, delivery: DeliveredMessage) -> None:
        # No await before the spawn: handlers start in delivery order.
        settler.received(delivery)
        try:
            message = decode_message(delivery.body)
            if isinstance(message, WorkRequest | Cancel):
                raise MalformedMessage(f"{type(message).__name__} is not an agent message")
        except MalformedMessage as exc:
            log.warning("dead-lettering a message from %s: %s", delivery.routing_key, exc)
            settler.settle(delivery, "dead")
            if self._on_refused is not None:
                self._on_refused("malformed")
            return
        self._spawner.spawn(self._handle(settler, delivery, message))

    async def _handle(
        self, settler: BatchedSettler, delivery: DeliveredMessage, message: AgentMessage
    ) -> None:
        assert self._handler is not None
        try:
            await self._handler(message)
        except Exception:
            log.exception("agent message not processed; it will be delivered again")
            await asyncio.sleep(self._retry_delay_s)
            settler.settle(delivery, "requeue")
            return
        settler.settle(delivery, "ack")

    def is_connected(self) -> bool:
        return self._connection.is_connected()

    async def close(self) -> None:
        """Stop consuming (what is unacked goes back to the queue) and publishing."""
        self._connection.remove_on_connect(self._start_consuming)
        ch, self._channel = self._channel, None
        if ch is not None:
            await self._connection.release(ch)
        await self._spawner.wait(CLOSE_GRACE_S)
        await self._publisher.close()
