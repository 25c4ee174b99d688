"""Driven adapter: an in-process message broker that behaves like RabbitMQ where it matters.

Messages travel as encoded bytes (the real wire format), work queues are priority queues,
deliveries stay unacked until acked and go back to the queue (marked redelivered) when their
consumer closes or dies, and what cannot be decoded is dead-lettered. Consumers are fed by a
pump task, never called inline by the publisher.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

import attrs

log = logging.getLogger(__name__)

Deliver = Callable[["Delivery"], Coroutine[Any, Any, None]]


@attrs.define
class Delivery:
    queue: str
    body: bytes
    priority: int
    redelivered: bool
    consumer: Consumer | None = None
    settled: bool = False


@attrs.define(eq=False)
class Consumer:
    queue: str
    prefetch: int
    deliver: Deliver
    unacked: list[Delivery] = attrs.Factory(list)
    active: bool = True


@attrs.frozen
class DeadLetter:
    queue: str
    body: bytes
    reason: str


class _Queue:
    def __init__(self, name: str, max_priority: int) -> None:
        self.name = name
        self.max_priority = max_priority
        self.heap: list[tuple[int, int, Delivery]] = []
        self.consumers: list[Consumer] = []
        self.next_consumer = 0


class InMemoryBroker:
    """Named queues, fanout to subscribers, acks, requeue and a dead-letter list."""

    def __init__(self) -> None:
        self._queues: dict[str, _Queue] = {}
        self._seq = itertools.count()
        self._kick = asyncio.Event()
        self._pump: asyncio.Task[None] | None = None
        self.dead_letters: list[DeadLetter] = []
        self._inflight: set[asyncio.Task[Any]] = set()
        self._bindings: dict[str, set[str]] = {}

    def bind(self, exchange: str, queue: str) -> None:
        """Bind `queue` to the fanout `exchange`."""
        self.declare(queue)
        self._bindings.setdefault(exchange, set()).add(queue)

    def delete(self, queue: str) -> None:
        self._queues.pop(queue, None)
        for queues in self._bindings.values():
            queues.discard(queue)

    def fanout(self, exchange: str, body: bytes) -> None:
        """Copy `body` to every queue bound to `exchange` (none bound: dropped, as in AMQP)."""
        for queue in sorted(self._bindings.get(exchange, ())):
            self.publish(queue, body)

    def declare(self, queue: str, max_priority: int = 0) -> None:
        self._queues.setdefault(queue, _Queue(queue, max_priority))

    def publish(self, queue: str, body: bytes, priority: int = 0) -> None:
        """Enqueue `body`; raises LookupError for a queue nobody declared (unroutable)."""
        q = self._queues.get(queue)
        if q is None:
            raise LookupError(f"no queue {queue!r}: message unroutable")
        level = max(0, min(priority, q.max_priority))
        self._push(q, Delivery(queue, body, level, redelivered=False))

    def consume(self, queue: str, prefetch: int, deliver: Deliver) -> Consumer:
        self.declare(queue)
        consumer = Consumer(queue, max(1, prefetch), deliver)
        self._queues[queue].consumers.append(consumer)
        self._wake()
        return consumer

    def cancel(self, consumer: Consumer, requeue_unacked: bool = True) -> None:
        """Stop a consumer; what it holds unacked goes back to the queue, redelivered."""
        consumer.active = False
        q = self._queues.get(consumer.queue)
        if q is not None and consumer in q.consumers:
            q.consumers.remove(consumer)
        if requeue_unacked:
            for delivery in list(consumer.unacked):
                self.settle(delivery, requeue=True)

    def settle(self, delivery: Delivery, requeue: bool = False, dead: str | None = None) -> None:
        """Ack (default), requeue, or dead-letter (with a reason) one delivery, once."""
        if delivery.settled:
            return
        delivery.settled = True
        if delivery.consumer is not None and delivery in delivery.consumer.unacked:
            delivery.consumer.unacked.remove(delivery)
        if dead is not None:
            log.warning("dead-lettered a message from %s: %s", delivery.queue, dead)
            self.dead_letters.append(DeadLetter(delivery.queue, delivery.body, dead))
        elif requeue and delivery.queue in self._queues:
            again = Delivery(delivery.queue, delivery.body, delivery.priority, redelivered=True)
            self._push(self._queues[delivery.queue], again)
        self._wake()

    def depth(self, queue: str) -> int:
        q = self._queues.get(queue)
        return 0 if q is None else len(q.heap)

    async def drained(self, queues: Iterable[str], timeout_s: float) -> bool:
        """Wait (up to `timeout_s`) until these queues are empty and what was taken from
        them is settled; returns whether they were."""
        loop = asyncio.get_running_loop()
        until = loop.time() + timeout_s
        while not self._idle(queues):
            if loop.time() >= until:
                return False
            await asyncio.sleep(0.01)
        return True

    def _idle(self, queues: Iterable[str]) -> bool:
        for name in queues:
            q = self._queues.get(name)
            if q is not None and (q.heap or any(c.unacked for c in q.consumers)):
                return False
        return True

    async def close(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            await asyncio.gather(self._pump, return_exceptions=True)
        for task in list(self._inflight):
            task.cancel()
        await asyncio.gather(*self._inflight, return_exceptions=True)

    def _push(self, q: _Queue, delivery: Delivery) -> None:
        # Higher priority first, then first in first out (RabbitMQ's order).
        heapq.heappush(q.heap, (-delivery.priority, next(self._seq), delivery))
        self._wake()

    def _wake(self) -> None:
        self._kick.set()
        if self._pump is None or self._pump.done():
            self._pump = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await self._kick.wait()
            self._kick.clear()
            for q in list(self._queues.values()):
                self._dispatch(q)

    def _dispatch(self, q: _Queue) -> None:
        while q.heap:
            consumer = self._free_consumer(q)
            if consumer is None:
                return
            _, _, delivery = heapq.heappop(q.heap)
            delivery.consumer = consumer
            consumer.unacked.append(delivery)
            task = asyncio.get_running_loop().create_task(consumer.deliver(delivery))
            self._inflight.add(task)
            task.add_done_callback(self._delivered)

    def _delivered(self, task: asyncio.Task[Any]) -> None:
        self._inflight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("consumer callback raised", exc_info=task.exception())

    def _free_consumer(self, q: _Queue) -> Consumer | None:
        n = len(q.consumers)
        for step in range(n):
            consumer = q.consumers[(q.next_consumer + step) % n]
            if consumer.active and len(consumer.unacked) < consumer.prefetch:
                q.next_consumer = (q.next_consumer + step + 1) % n
                return consumer
        return None
