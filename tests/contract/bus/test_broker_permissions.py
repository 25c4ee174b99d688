"""RabbitMQ only: the agents' broker user with the permissions docs/amqp.md gives it can do
an agent's whole job, and cannot publish notify frames, cancels or work, nor read results."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit
from uuid import uuid4

import aiormq
import pytest

from adapters.amqp.agent_bus import AmqpAgentBus
from adapters.amqp.connection import AmqpConnection
from adapters.amqp.topology import Topology
from chiffon.model import AgentStatus, Heartbeat
from tests.amqp_fixtures import ConnectionFactory, rabbitmqctl
from tests.contract.bus.helpers import outbox, request, result, wait_until
from tests.contract.bus.worlds import AmqpWorld

pytestmark = [pytest.mark.amqp, pytest.mark.usefixtures("amqp_cleanup")]

DOCS = Path(__file__).resolve().parents[3] / "docs" / "amqp.md"
# configure, write, read for the agents' user, as docs/amqp.md gives them (namespace: {ns})
AGENT = (
    r"^{ns}\.",
    r"^{ns}\.(events|dead|results|heartbeats|work\..*|control\..*)$",
    r"^{ns}\.(events|work|control|dead|work\..*|control\..*)$",
)


def test_the_docs_give_these_permissions() -> None:
    text = DOCS.read_text()
    for regex in AGENT:
        assert f"'{regex.format(ns='chiffon')}'" in text, regex


@pytest.fixture
async def agent_login(amqp_url: str, namespace: str, amqp_vhost: str) -> AsyncIterator[str]:
    user, password = f"agent-{secrets.token_hex(4)}", secrets.token_hex(8)
    await asyncio.to_thread(rabbitmqctl, "add_user", user, password)
    regexes = [r.format(ns=namespace) for r in AGENT]
    await asyncio.to_thread(rabbitmqctl, "set_permissions", "-p", amqp_vhost, user, *regexes)
    parts = urlsplit(amqp_url)
    host = parts.netloc.rsplit("@", 1)[-1]
    yield urlunsplit(parts._replace(netloc=f"{quote(user)}:{password}@{host}"))
    await asyncio.to_thread(rabbitmqctl, "delete_user", user)


async def test_an_agent_user_does_its_job_and_nothing_more(
    agent_login: str, amqp_connect: ConnectionFactory, namespace: str, amqp_cleanup: list[str]
) -> None:
    amqp_cleanup.append("alpha")
    world = AmqpWorld(amqp_connect, namespace, amqp_cleanup)  # the orchestrator: full rights
    orchestrator = await world.work_bus()
    heard: list[object] = []

    async def hear(message: object) -> None:
        heard.append(message)

    await orchestrator.consume_agent_messages(hear)
    connection = AmqpConnection(agent_login, "agent-user")
    await connection.start(timeout_s=10)
    try:
        agent_id = uuid4()
        agent = AmqpAgentBus(connection, agent_id, namespace)
        got: asyncio.Queue[object] = asyncio.Queue()

        async def on_work(delivery: object) -> None:
            await got.put(delivery)

        async def on_cancel(_: object) -> None:
            return None

        beat = Heartbeat(agent_id, "alpha", AgentStatus.ONLINE, ("echo",), 1, (), {})
        await agent.publish(beat)
        await agent.consume("alpha", 1, on_work, on_cancel)  # type: ignore[arg-type]
        req = request(agent_type="alpha")
        await orchestrator.publish([outbox(req)])
        delivery = await asyncio.wait_for(got.get(), 10)
        await delivery.ack()  # type: ignore[attr-defined]
        await agent.publish(result(agent_id, req))
        await wait_until(lambda: len(heard) == 2)
        ch = await connection.channel(publisher_confirms=True)
        topology = Topology(namespace)
        for exchange in (
            topology.notify_exchange,
            topology.control_exchange,
            topology.work_exchange,
        ):
            with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
                await ch.basic_publish(b"{}", exchange=exchange, routing_key="alpha")
            ch = await connection.channel(publisher_confirms=True)
        for queue in (topology.results_queue, topology.heartbeats_queue):
            with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
                await ch.basic_consume(queue, on_cancel)  # type: ignore[arg-type]
            ch = await connection.channel(publisher_confirms=True)
        with pytest.raises(aiormq.exceptions.ChannelAccessRefused):  # no queue of its naming
            await ch.queue_declare("", exclusive=True)
        ch = await connection.channel(publisher_confirms=True)
        own = topology.control_queue(agent_id)  # its own queue: not to listen to notify
        with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
            await ch.queue_bind(own, topology.notify_exchange, routing_key="")
        await agent.close()
    finally:
        await connection.close()
