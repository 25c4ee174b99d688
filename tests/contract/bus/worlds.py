"""The bus under test, over the in-memory broker or RabbitMQ, behind one small interface."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol, TypeVar
from uuid import UUID, uuid4

from aiormq.abc import AbstractChannel
from pamqp.commands import Basic

from adapters.amqp.agent_bus import AmqpAgentBus
from adapters.amqp.connection import AmqpConnection
from adapters.amqp.topology import Topology
from adapters.amqp.work_bus import AmqpWorkBus
from adapters.memory.broker import InMemoryBroker
from adapters.memory.bus import RESULTS, InMemoryAgentBus, InMemoryWorkBus, work_queue
from ports.bus import AgentBus, WorkBus
from tests.amqp_fixtures import ConnectionFactory

B = TypeVar("B", WorkBus, AgentBus)


class BusWorld(Protocol):
    async def work_bus(self) -> WorkBus: ...

    async def agent_bus(self, agent_id: UUID | None = None) -> AgentBus: ...

    async def kill(self, bus: AgentBus) -> None:
        """The agent's process dies: its connection drops without a goodbye."""
        ...

    async def put_work(self, agent_type: str, body: bytes) -> None:
        """Raw bytes on the agent type's work queue (a foreign or broken publisher)."""
        ...

    async def put_result(self, body: bytes) -> None:
        """Raw bytes on the orchestrator's results queue."""
        ...

    async def dead_letters(self) -> list[bytes]:
        """Every body dead-lettered so far."""
        ...

    async def close(self) -> None: ...


class _Buses:
    """Closes every bus a test made, at teardown."""

    def __init__(self) -> None:
        self.made: list[WorkBus | AgentBus] = []

    def keep(self, bus: B) -> B:
        self.made.append(bus)
        return bus

    async def close(self) -> None:
        for bus in reversed(self.made):
            with contextlib.suppress(Exception):
                await bus.close()


class MemoryWorld(BusWorld):
    def __init__(self) -> None:
        self.broker = InMemoryBroker()
        self._buses = _Buses()

    async def work_bus(self) -> WorkBus:
        return self._buses.keep(InMemoryWorkBus(self.broker))

    async def agent_bus(self, agent_id: UUID | None = None) -> AgentBus:
        return self._buses.keep(InMemoryAgentBus(self.broker, agent_id or uuid4()))

    async def close(self) -> None:
        await self._buses.close()
        await self.broker.close()

    async def kill(self, bus: AgentBus) -> None:
        assert isinstance(bus, InMemoryAgentBus)
        bus.kill()

    async def put_work(self, agent_type: str, body: bytes) -> None:
        self.broker.declare(work_queue(agent_type), max_priority=5)
        self.broker.publish(work_queue(agent_type), body)

    async def put_result(self, body: bytes) -> None:
        self.broker.declare(RESULTS)
        self.broker.publish(RESULTS, body)

    async def dead_letters(self) -> list[bytes]:
        return [dead.body for dead in self.broker.dead_letters]


class AmqpWorld(BusWorld):
    """One connection for the orchestrator, one per agent (so an agent can die alone), and
    an admin connection for raw publishes and reading the dead-letter queue."""

    def __init__(self, connect: ConnectionFactory, namespace: str, used: list[str]) -> None:
        self._connect = connect
        self.namespace = namespace
        self.topology = Topology(namespace)
        self._used_agent_types = used
        self._orchestrator: AmqpConnection | None = None
        self._agents: dict[int, AmqpConnection] = {}
        self._admin: AbstractChannel | None = None
        self._dead: list[bytes] = []
        self._buses = _Buses()

    async def work_bus(self) -> WorkBus:
        if self._orchestrator is None:
            self._orchestrator = await self._connect("orchestrator")
        return self._buses.keep(AmqpWorkBus(self._orchestrator, self.namespace))

    def connection_of(self, bus: AgentBus | None = None) -> AmqpConnection:
        """The agent's connection, or the orchestrator's with no agent given."""
        connection = self._orchestrator if bus is None else self._agents[id(bus)]
        assert connection is not None
        return connection

    async def close(self) -> None:
        await self._buses.close()

    async def agent_bus(self, agent_id: UUID | None = None) -> AgentBus:
        agent_id = agent_id or uuid4()
        connection = await self._connect(f"agent-{agent_id}")
        bus = AmqpAgentBus(connection, agent_id, self.namespace)
        self._agents[id(bus)] = connection
        return self._buses.keep(bus)

    async def kill(self, bus: AgentBus) -> None:
        await self._agents[id(bus)].close()

    async def admin(self) -> AbstractChannel:
        if self._admin is None:
            connection = await self._connect("admin")
            self._admin = await connection.channel(publisher_confirms=True)
            await self.topology.declare_base(self._admin)
        return self._admin

    async def put_work(self, agent_type: str, body: bytes) -> None:
        self._used_agent_types.append(agent_type)
        ch = await self.admin()
        await self.topology.declare_work_queue(ch, agent_type)
        props = Basic.Properties(delivery_mode=2)
        await ch.basic_publish(
            body, exchange=self.topology.work_exchange, routing_key=agent_type, properties=props
        )

    async def put_result(self, body: bytes) -> None:
        ch = await self.admin()
        await ch.basic_publish(
            body, exchange=self.topology.events_exchange, routing_key="result.test"
        )

    async def dead_letters(self) -> list[bytes]:
        ch = await self.admin()
        while True:
            message = await asyncio.wait_for(ch.basic_get(self.topology.dead_queue), 5)
            if isinstance(message.delivery, Basic.GetEmpty):
                return list(self._dead)
            self._dead.append(message.body)
            assert message.delivery_tag is not None
            await ch.basic_ack(message.delivery_tag)
