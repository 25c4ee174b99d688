"""Opening RabbitMQ for a replica or an agent, with a refusal said in one line (StartupError).

A broker that is down does not stop a replica's start: dispatch keeps storing work (the outbox
holds it) and /ready says the bus is down until it is back. A broker that refuses us
(credentials, vhost) does: that needs a different setting."""

from __future__ import annotations

import contextlib
import logging
from uuid import UUID

import attrs

from adapters.amqp.agent_bus import AmqpAgentBus
from adapters.amqp.connection import AmqpConnection, BrokerRefused
from adapters.amqp.notifier import AmqpNotifier
from adapters.amqp.work_bus import AmqpWorkBus
from chiffon.credentials import ReplicaKey
from ports.bus import BusUnavailable
from ports.startup import StartupError, redact

log = logging.getLogger("chiffon")


@attrs.frozen
class BrokerSettings:
    url: str
    namespace: str
    connect_wait_s: float


@attrs.frozen
class OrchestratorBus:
    """The replica's side of the broker: work out, agents' messages in, events both ways."""

    work: AmqpWorkBus
    notifier: AmqpNotifier


async def open_orchestrator_bus(
    broker: BrokerSettings, key: ReplicaKey, stack: contextlib.AsyncExitStack
) -> OrchestratorBus:
    conn = AmqpConnection(broker.url, name="orchestrator")
    stack.push_async_callback(conn.close)
    bus = AmqpWorkBus(conn, broker.namespace)
    # One channel for events and work: an announcement is routed before the work it caused
    # without waiting for its confirm (see AmqpNotifier.flush).
    notifier = AmqpNotifier(conn, broker.namespace, publisher=bus.publisher, key=key)
    stack.push_async_callback(notifier.close)
    await notifier.start()
    await conn.start()
    await _wait_for_broker(conn, broker, keep_waiting=False)
    return OrchestratorBus(bus, notifier)


async def open_agent_bus(
    broker: BrokerSettings,
    agent_id: UUID,
    agent_type: str,
    stack: contextlib.AsyncExitStack,
) -> AmqpAgentBus:
    """An agent cannot work without the broker: it waits for the first connection."""
    conn = AmqpConnection(broker.url, name=f"agent-{agent_id}")
    stack.push_async_callback(conn.close)
    await conn.start()
    await _wait_for_broker(conn, broker, keep_waiting=True)
    return AmqpAgentBus(conn, agent_id, broker.namespace, agent_type)


async def _wait_for_broker(
    conn: AmqpConnection, broker: BrokerSettings, keep_waiting: bool
) -> None:
    """Wait for the first connection: until it comes (`keep_waiting`) or for the configured
    while. A refusal is a StartupError."""
    while True:
        try:
            await conn.wait_connected(broker.connect_wait_s)
            return
        except BrokerRefused as exc:
            raise StartupError(f"{exc} at {redact(broker.url)}: fix CHIFFON_AMQP_URL") from None
        except BusUnavailable:
            log.warning(
                "RabbitMQ does not answer at %s yet; %s",
                redact(broker.url),
                "waiting" if keep_waiting else "accepting work, retrying in the background",
            )
            if not keep_waiting:
                return
