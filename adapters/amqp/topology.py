"""Driven adapter: the RabbitMQ exchanges and queues, declared idempotently per namespace."""

from __future__ import annotations

from aiormq.abc import AbstractChannel
from pamqp.common import FieldTable

MAX_PRIORITY = 5
HEARTBEAT_TTL_MS = 60_000


class Topology:
    """Names and declarations. Every side declares what it uses (with identical arguments),
    so it does not matter whether the orchestrator or an agent starts first."""

    def __init__(self, namespace: str = "chiffon", heartbeat_ttl_ms: int = HEARTBEAT_TTL_MS):
        self.namespace = namespace
        self.heartbeat_ttl_ms = heartbeat_ttl_ms
        self.work_exchange = f"{namespace}.work"
        self.events_exchange = f"{namespace}.events"
        self.control_exchange = f"{namespace}.control"
        self.notify_exchange = f"{namespace}.notify"
        self.dead_exchange = f"{namespace}.dead"
        self.dead_queue = f"{namespace}.dead"
        self.results_queue = f"{namespace}.results"
        self.heartbeats_queue = f"{namespace}.heartbeats"

    def work_queue(self, agent_type: str) -> str:
        return f"{self.namespace}.work.{agent_type}"

    def control_queue(self, agent_id: object) -> str:
        return f"{self.namespace}.control.{agent_id}"

    @property
    def dead_lettered(self) -> FieldTable:
        return {"x-dead-letter-exchange": self.dead_exchange}

    async def declare_base(self, ch: AbstractChannel) -> None:
        """Exchanges, the dead-letter queue, and the orchestrator's durable queues."""
        await ch.exchange_declare(self.dead_exchange, exchange_type="fanout", durable=True)
        await ch.queue_declare(self.dead_queue, durable=True)
        await ch.queue_bind(self.dead_queue, self.dead_exchange, routing_key="")
        await ch.exchange_declare(self.work_exchange, exchange_type="direct", durable=True)
        await ch.exchange_declare(self.events_exchange, exchange_type="topic", durable=True)
        await ch.exchange_declare(self.control_exchange, exchange_type="fanout", durable=True)
        await ch.exchange_declare(self.notify_exchange, exchange_type="fanout", durable=True)
        # One active consumer at a time (the others stand by): a task's running and result,
        # and an agent's beats, are then applied by one replica, in order, and announced in
        # that order. Another replica takes over at once when the active one goes away.
        single: FieldTable = {**self.dead_lettered, "x-single-active-consumer": True}
        await ch.queue_declare(self.results_queue, durable=True, arguments=single)
        for key in ("result.*", "status.*"):
            await ch.queue_bind(self.results_queue, self.events_exchange, routing_key=key)
        beats: FieldTable = {**single, "x-message-ttl": self.heartbeat_ttl_ms}
        await ch.queue_declare(self.heartbeats_queue, durable=True, arguments=beats)
        await ch.queue_bind(self.heartbeats_queue, self.events_exchange, routing_key="heartbeat.*")

    async def declare_work_queue(self, ch: AbstractChannel, agent_type: str) -> str:
        """The agent type's durable priority queue, bound to the work exchange by its type."""
        queue = self.work_queue(agent_type)
        args: FieldTable = {**self.dead_lettered, "x-max-priority": MAX_PRIORITY}
        await ch.queue_declare(queue, durable=True, arguments=args)
        await ch.queue_bind(queue, self.work_exchange, routing_key=agent_type)
        return queue

    async def declare_control_queue(self, ch: AbstractChannel, agent_id: object) -> str:
        """One agent's exclusive queue on the control fanout (gone when its connection is)."""
        queue = self.control_queue(agent_id)
        await ch.queue_declare(
            queue, exclusive=True, auto_delete=True, arguments=self.dead_lettered
        )
        await ch.queue_bind(queue, self.control_exchange, routing_key="")
        return queue

    async def declare_notify_queue(self, ch: AbstractChannel) -> str:
        """This replica's exclusive, server-named queue on the notify fanout."""
        ok = await ch.queue_declare(
            "", exclusive=True, auto_delete=True, arguments=self.dead_lettered
        )
        assert ok.queue is not None
        await ch.queue_bind(ok.queue, self.notify_exchange, routing_key="")
        return ok.queue

    async def delete(self, ch: AbstractChannel, agent_types: tuple[str, ...] = ()) -> None:
        """Remove the namespace's durable queues and exchanges (tests, decommissioning)."""
        queues = [self.results_queue, self.heartbeats_queue, self.dead_queue]
        for queue in [*queues, *(self.work_queue(t) for t in agent_types)]:
            await ch.queue_delete(queue)
        for exchange in (
            self.work_exchange,
            self.events_exchange,
            self.control_exchange,
            self.notify_exchange,
            self.dead_exchange,
        ):
            await ch.exchange_delete(exchange)
