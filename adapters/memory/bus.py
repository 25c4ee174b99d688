"""Driven adapters: the orchestrator's and an agent's side of the in-memory broker."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from uuid import UUID

from adapters.codec import MalformedMessage, Unencodable, decode_message, encode_message
from adapters.memory.broker import Consumer, Delivery, InMemoryBroker
from chiffon.model import (
    Cancel,
    Heartbeat,
    OutboxMessage,
    StatusUpdate,
    TaskAnnouncement,
    WorkRequest,
    WorkResult,
)
from ports.bus import (
    AgentBus,
    AgentMessageHandler,
    BusUnavailable,
    CancelHandler,
    Rejected,
    WorkBus,
    WorkHandler,
)

log = logging.getLogger(__name__)

MALFORMED = "malformed"  # the refusal reason of a dead-lettered agent message

RESULTS = "chiffon.results"
HEARTBEATS = "chiffon.heartbeats"
CONTROL = "chiffon.control"
EVENTS_PREFETCH = 64
RETRY_DELAY_S = 0.2


def work_queue(agent_type: str) -> str:
    return f"chiffon.work.{agent_type}"


class InMemoryWorkBus(WorkBus):
    def __init__(self, broker: InMemoryBroker) -> None:
        self._broker = broker
        self._consumers: list[Consumer] = []
        broker.declare(RESULTS)
        broker.declare(HEARTBEATS)

    async def publish(self, messages: Sequence[OutboxMessage]) -> Rejected:
        rejected: dict[UUID, str] = {}
        for message in messages:
            payload = message.payload
            if isinstance(payload, TaskAnnouncement):
                raise TypeError("announcements go to the notifier, not the work bus")
            try:
                body = encode_message(payload, from_agent="orchestrator")
            except Unencodable as exc:
                rejected[message.message_id] = str(exc)
                continue
            if isinstance(payload, WorkRequest):
                queue = work_queue(payload.agent_type)
                self._broker.declare(queue, max_priority=5)
                self._broker.publish(queue, body, payload.priority)
            else:
                self._broker.fanout(CONTROL, body)
        return rejected

    async def consume_agent_messages(
        self, handler: AgentMessageHandler, on_refused: Callable[[str], None] | None = None
    ) -> None:
        async def deliver(delivery: Delivery) -> None:
            try:
                message = decode_message(delivery.body)
                if isinstance(message, WorkRequest | Cancel):
                    raise MalformedMessage(f"{type(message).__name__} on {delivery.queue}")
            except MalformedMessage as exc:
                self._broker.settle(delivery, dead=str(exc))
                if on_refused is not None:
                    on_refused(MALFORMED)
                return
            try:
                await handler(message)
            except Exception:
                log.exception("agent message not processed; it will be delivered again")
                await asyncio.sleep(RETRY_DELAY_S)
                self._broker.settle(delivery, requeue=True)
                return
            self._broker.settle(delivery)

        for queue in (RESULTS, HEARTBEATS):
            self._consumers.append(self._broker.consume(queue, EVENTS_PREFETCH, deliver))

    def is_connected(self) -> bool:
        return True

    async def close(self) -> None:
        for consumer in self._consumers:
            self._broker.cancel(consumer)
        self._consumers.clear()


class _MemoryWorkDelivery:
    def __init__(self, broker: InMemoryBroker, delivery: Delivery, request: WorkRequest) -> None:
        self._broker = broker
        self._delivery = delivery
        self._request = request

    @property
    def request(self) -> WorkRequest:
        return self._request

    @property
    def redelivered(self) -> bool:
        return self._delivery.redelivered

    @property
    def held(self) -> bool:
        return not self._delivery.settled

    async def ack(self) -> None:
        self._broker.settle(self._delivery)

    async def reject(self, requeue: bool) -> None:
        self._broker.settle(
            self._delivery, requeue=requeue, dead=None if requeue else "rejected by the agent"
        )


class InMemoryAgentBus(AgentBus):
    """One agent's connection. `close()` (or a crash, `kill()`) requeues unacked work."""

    def __init__(self, broker: InMemoryBroker, agent_id: UUID) -> None:
        self._broker = broker
        self._agent_id = agent_id
        self._control_queue = f"{CONTROL}.{agent_id}"
        self._work: Consumer | None = None
        self._control: Consumer | None = None
        self._connected = True

    async def consume(
        self, agent_type: str, prefetch: int, on_work: WorkHandler, on_cancel: CancelHandler
    ) -> None:
        queue = work_queue(agent_type)
        self._broker.declare(queue, max_priority=5)
        self._broker.bind(CONTROL, self._control_queue)

        async def deliver_work(delivery: Delivery) -> None:
            try:
                request = decode_message(delivery.body)
                if not isinstance(request, WorkRequest):
                    raise MalformedMessage(f"{type(request).__name__} on a work queue")
            except MalformedMessage as exc:
                self._broker.settle(delivery, dead=str(exc))
                return
            await on_work(_MemoryWorkDelivery(self._broker, delivery, request))

        async def deliver_cancel(delivery: Delivery) -> None:
            try:
                cancel = decode_message(delivery.body)
                if not isinstance(cancel, Cancel):
                    raise MalformedMessage(f"{type(cancel).__name__} on the control queue")
            except MalformedMessage as exc:
                self._broker.settle(delivery, dead=str(exc))
                return
            self._broker.settle(delivery)
            await on_cancel(cancel)

        self._work = self._broker.consume(queue, prefetch, deliver_work)
        self._control = self._broker.consume(self._control_queue, 100, deliver_cancel)

    async def stop_consuming(self) -> None:
        if self._work is not None:
            # Stop taking work but keep what is held (like basic.cancel in AMQP).
            self._work.active = False

    async def publish(self, message: StatusUpdate | WorkResult | Heartbeat) -> None:
        if not self._connected:
            raise BusUnavailable("agent bus is closed")
        queue = HEARTBEATS if isinstance(message, Heartbeat) else RESULTS
        self._broker.publish(queue, encode_message(message, from_agent=str(self._agent_id)))

    def is_connected(self) -> bool:
        return self._connected

    async def close(self) -> None:
        self.kill()

    def drop_work(self) -> None:
        """The connection drops and comes back: the work this agent holds unacked goes back
        to the queue (delivered again, here or to another agent) and it consumes again."""
        work = self._work
        if work is None or not work.active:
            return
        self._broker.cancel(work)
        self._work = self._broker.consume(work.queue, work.prefetch, work.deliver)

    def kill(self) -> None:
        """Drop the connection at once, as a crashed process would: unacked work is requeued."""
        if not self._connected:
            return
        self._connected = False
        if self._work is not None:
            self._broker.cancel(self._work)
        if self._control is not None:
            self._broker.cancel(self._control, requeue_unacked=False)
        self._broker.delete(self._control_queue)
