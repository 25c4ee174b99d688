"""RabbitMQ only: lost connections recover by themselves, and failures surface as BusUnavailable."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import uuid4

import pytest

from adapters.amqp.agent_bus import AmqpAgentBus
from adapters.amqp.connection import AmqpConnection
from adapters.amqp.work_bus import AmqpWorkBus
from chiffon.model import Cancel
from ports.bus import AgentBus, BusUnavailable, WorkBus
from tests.amqp_fixtures import close_vhost_connections
from tests.contract.bus.helpers import (
    Inbox,
    Worker,
    heartbeat,
    outbox,
    request,
    status,
    wait_until,
)
from tests.contract.bus.worlds import AmqpWorld

pytestmark = pytest.mark.amqp


@asynccontextmanager
async def sampling(buses: list[WorkBus | AgentBus]) -> AsyncIterator[list[list[bool]]]:
    """Record each bus's is_connected() every millisecond while the block runs."""
    seen: list[list[bool]] = [[] for _ in buses]

    async def sample() -> None:
        while True:
            for i, bus in enumerate(buses):
                seen[i].append(bus.is_connected())
            await asyncio.sleep(0.001)

    task = asyncio.create_task(sample())
    try:
        yield seen
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def until_connected(*connections: AmqpConnection, after: int) -> None:
    await wait_until(lambda: all(c.is_connected() and c.connects > after for c in connections), 15)


async def assert_traffic_flows(orchestrator: WorkBus, worker: Worker) -> None:
    """Work, cancel and a report all travel after the recovery."""
    sent = request()
    await orchestrator.publish([outbox(sent)])
    delivery = await worker.next()
    assert delivery.request == sent
    await orchestrator.publish([outbox(Cancel(sent.task_id))])
    assert (await worker.next_cancel()).task_id == sent.task_id
    await delivery.ack()


@pytest.mark.parametrize("fault", ["broker_closes", "client_closes"])
async def test_buses_reconnect_redeclare_and_resume(
    amqp_world: AmqpWorld, amqp_vhost: str, fault: str
) -> None:
    orchestrator, inbox = await amqp_world.work_bus(), Inbox()
    await orchestrator.consume_agent_messages(inbox.handle)
    agent_id = uuid4()
    agent, worker = await amqp_world.agent_bus(agent_id), Worker()
    await agent.consume("alpha", 2, worker.on_work, worker.on_cancel)
    connections = [amqp_world.connection_of(), amqp_world.connection_of(agent)]
    async with sampling([orchestrator, agent]) as seen:
        if fault == "broker_closes":
            await close_vhost_connections(amqp_vhost)
        else:
            for connection in connections:
                await connection.current().close()
                assert not connection.is_connected()
        await until_connected(*connections, after=1)
    assert [False in samples for samples in seen] == [True, True]
    assert orchestrator.is_connected() and agent.is_connected()
    await assert_traffic_flows(orchestrator, worker)
    await agent.publish(status(agent_id, uuid4(), 0))
    await agent.publish(heartbeat(agent_id, 1))
    assert len(await inbox.wait_done(2)) == 2


async def test_publish_while_disconnected_raises_bus_unavailable(amqp_world: AmqpWorld) -> None:
    nowhere = AmqpConnection("amqp://guest:guest@127.0.0.1:1/", "nowhere")
    await nowhere.start()
    try:
        work_bus = AmqpWorkBus(nowhere, amqp_world.namespace)
        agent_bus = AmqpAgentBus(nowhere, uuid4(), amqp_world.namespace)
        assert not work_bus.is_connected()
        with pytest.raises(BusUnavailable):
            await work_bus.publish([outbox(request())])
        with pytest.raises(BusUnavailable):
            await agent_bus.publish(heartbeat(uuid4(), 1))
    finally:
        await nowhere.close()


async def test_publish_after_the_connection_closed_raises(amqp_world: AmqpWorld) -> None:
    orchestrator = await amqp_world.work_bus()
    await orchestrator.publish([outbox(request())])
    await amqp_world.connection_of().close()
    with pytest.raises(BusUnavailable):
        await orchestrator.publish([outbox(request())])


async def test_unroutable_work_raises_and_the_next_publish_declares_again(
    amqp_world: AmqpWorld,
) -> None:
    orchestrator = await amqp_world.work_bus()
    await orchestrator.publish([outbox(request())])
    admin = await amqp_world.admin()
    await admin.queue_delete(amqp_world.topology.work_queue("alpha"))
    with pytest.raises(BusUnavailable):
        await orchestrator.publish([outbox(request()), outbox(request())])
    await orchestrator.publish([outbox(request())])
    agent, worker = await amqp_world.agent_bus(), Worker()
    await agent.consume("alpha", 1, worker.on_work, worker.on_cancel)
    await (await worker.next()).ack()


async def test_acking_a_delivery_of_a_lost_connection_is_harmless(amqp_world: AmqpWorld) -> None:
    orchestrator = await amqp_world.work_bus()
    sent = request()
    await orchestrator.publish([outbox(sent)])
    agent, worker = await amqp_world.agent_bus(), Worker()
    await agent.consume("alpha", 1, worker.on_work, worker.on_cancel)
    held = await worker.next()
    connection = amqp_world.connection_of(agent)
    await connection.current().close()
    await held.ack()  # logged and ignored
    await until_connected(connection, after=1)
    again = await worker.next()
    assert again.request == sent
    assert again.redelivered
    await again.ack()


async def test_a_deleted_queue_is_declared_again_and_consumed(amqp_world: AmqpWorld) -> None:
    orchestrator, inbox = await amqp_world.work_bus(), Inbox()
    await orchestrator.consume_agent_messages(inbox.handle)
    connection = amqp_world.connection_of()
    admin = await amqp_world.admin()
    await admin.queue_delete(amqp_world.topology.results_queue)  # the broker cancels the consumer
    await until_connected(connection, after=1)
    agent_id = uuid4()
    agent = await amqp_world.agent_bus(agent_id)
    await agent.publish(status(agent_id, uuid4(), 0))
    assert len(await inbox.wait_done(1)) == 1
