"""Driven adapter: one agent's side of the RabbitMQ bus (take work and cancels, report back)."""

from __future__ import annotations

import logging
from uuid import UUID

import aiormq
from aiormq.abc import AbstractChannel, AbstractConnection, DeliveredMessage

from adapters.amqp.connection import AmqpConnection
from adapters.amqp.delivery import Settle, Spawner, settle
from adapters.amqp.publisher import ConfirmingPublisher, Outgoing
from adapters.amqp.topology import Topology
from adapters.codec import MalformedMessage, decode_message, encode_message, message_type
from chiffon.model import Cancel, Heartbeat, StatusUpdate, WorkRequest, WorkResult
from ports.bus import AgentBus, CancelHandler, WorkDelivery, WorkHandler

log = logging.getLogger(__name__)

CLOSE_GRACE_S = 1.0
ROUTING_PREFIX = {StatusUpdate: "status", WorkResult: "result", Heartbeat: "heartbeat"}


class AmqpWorkDelivery(WorkDelivery):
    """A work message held on the channel it came from; settled at most once."""

    def __init__(self, delivery: DeliveredMessage, request: WorkRequest) -> None:
        self._delivery = delivery
        self._request = request
        self._settled = False

    @property
    def request(self) -> WorkRequest:
        return self._request

    @property
    def redelivered(self) -> bool:
        return bool(self._delivery.redelivered)

    @property
    def held(self) -> bool:
        # Once its channel is closed the broker has the message back and redelivers it.
        return not self._settled and not self._delivery.channel.is_closed

    async def ack(self) -> None:
        await self._settle("ack")

    async def reject(self, requeue: bool) -> None:
        await self._settle("requeue" if requeue else "dead")

    async def _settle(self, how: Settle) -> None:
        # A second ack of one tag would be a channel error that drops every other delivery.
        if self._settled:
            return
        self._settled = True
        await settle(self._delivery, how)


class AmqpAgentBus(AgentBus):
    """Consumes its agent type's work queue (manual acks, prefetch) and its own exclusive
    control queue; publishes reports with confirms. Re-declares and re-consumes after a
    reconnect; deliveries held on a dead channel are the broker's again."""

    def __init__(
        self,
        connection: AmqpConnection,
        agent_id: UUID,
        namespace: str = "chiffon",
        agent_type: str | None = None,
    ) -> None:
        self._connection = connection
        self._agent_id = agent_id
        self._agent_type = agent_type
        self._topology = Topology(namespace)
        self._publisher = ConfirmingPublisher(connection, self._topology.declare_base)
        self._spawner = Spawner()
        self._prefetch = 1
        self._on_work: WorkHandler | None = None
        self._on_cancel: CancelHandler | None = None
        self._taking_work = False
        self._channels: list[AbstractChannel] = []
        self._work: tuple[AbstractChannel, str] | None = None

    async def consume(
        self, agent_type: str, prefetch: int, on_work: WorkHandler, on_cancel: CancelHandler
    ) -> None:
        self._agent_type = agent_type
        self._prefetch = max(1, prefetch)
        self._on_work = on_work
        self._on_cancel = on_cancel
        self._taking_work = True
        await self._connection.add_on_connect(self._start)

    async def _start(self, conn: AbstractConnection) -> None:
        await self._close_channels()  # those of a previous connection, if any
        self._work = None
        ch = await conn.channel(publisher_confirms=False)
        self._channels.append(ch)
        await self._topology.declare_base(ch)
        control = await self._topology.declare_control_queue(ch, self._agent_id)
        await ch.basic_consume(control, self._on_control)
        self._connection.supervise(ch)
        if self._taking_work:
            await self._consume_work(conn)

    async def _consume_work(self, conn: AbstractConnection) -> None:
        assert self._agent_type is not None
        ch = await conn.channel(publisher_confirms=False)
        self._channels.append(ch)
        queue = await self._topology.declare_work_queue(ch, self._agent_type)
        await ch.basic_qos(prefetch_count=self._prefetch)
        ok = await ch.basic_consume(queue, self._on_delivery)
        assert ok.consumer_tag is not None
        self._connection.supervise(ch)
        self._work = (ch, ok.consumer_tag)

    async def _on_delivery(self, delivery: DeliveredMessage) -> None:
        try:
            request = decode_message(delivery.body)
            if not isinstance(request, WorkRequest):
                raise MalformedMessage(f"{type(request).__name__} on a work queue")
        except MalformedMessage as exc:
            log.warning("dead-lettering a work message: %s", exc)
            self._spawner.spawn(settle(delivery, "dead"))
            return
        assert self._on_work is not None
        self._spawner.spawn(self._on_work(AmqpWorkDelivery(delivery, request)))

    async def _on_control(self, delivery: DeliveredMessage) -> None:
        try:
            cancel = decode_message(delivery.body)
            if not isinstance(cancel, Cancel):
                raise MalformedMessage(f"{type(cancel).__name__} on the control queue")
        except MalformedMessage as exc:
            log.warning("dead-lettering a control message: %s", exc)
            self._spawner.spawn(settle(delivery, "dead"))
            return
        self._spawner.spawn(self._cancelled(delivery, cancel))

    async def _cancelled(self, delivery: DeliveredMessage, cancel: Cancel) -> None:
        await settle(delivery, "ack")
        assert self._on_cancel is not None
        await self._on_cancel(cancel)

    async def stop_consuming(self) -> None:
        self._taking_work = False
        work, self._work = self._work, None
        if work is None:
            return
        ch, tag = work
        try:
            await ch.basic_cancel(tag)
        except (aiormq.AMQPError, ConnectionError, RuntimeError) as exc:
            log.warning("could not cancel the work consumer (channel gone: %r)", exc)

    async def publish(self, message: StatusUpdate | WorkResult | Heartbeat) -> None:
        if isinstance(message, Heartbeat) and self._agent_type is None:
            self._agent_type = message.agent_type
        agent_type = message.agent_type if isinstance(message, Heartbeat) else self._agent_type
        key = f"{ROUTING_PREFIX[type(message)]}.{agent_type or 'unknown'}"
        body = encode_message(message, from_agent=str(self._agent_id))
        outgoing = Outgoing(
            self._topology.events_exchange, key, body, message_type=message_type(message)
        )
        await self._publisher.publish_one(outgoing)  # this bus never uses `send`

    def is_connected(self) -> bool:
        return self._connection.is_connected()

    async def close(self) -> None:
        """Close this agent's channels: unacked work goes back to its queue."""
        self._connection.remove_on_connect(self._start)
        self._taking_work = False
        self._work = None
        await self._close_channels()
        await self._publisher.close()
        await self._spawner.wait(CLOSE_GRACE_S)

    async def _close_channels(self) -> None:
        channels, self._channels = self._channels, []
        for ch in channels:
            await self._connection.release(ch)
