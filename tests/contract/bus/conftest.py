"""Bus contract fixtures: each test runs over the in-memory broker and over RabbitMQ."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.amqp_fixtures import (
    ConnectionFactory,
    amqp_cleanup,
    amqp_connect,
    amqp_url,
    amqp_vhost,
    namespace,
)
from tests.contract.bus.worlds import AmqpWorld, BusWorld, MemoryWorld

__all__ = ["amqp_cleanup", "amqp_connect", "amqp_url", "amqp_vhost", "namespace"]

AGENT_TYPES = ("alpha", "beta")
BACKENDS = ["memory", pytest.param("amqp", marks=pytest.mark.amqp)]


@pytest.fixture
async def memory_world() -> AsyncIterator[MemoryWorld]:
    world = MemoryWorld()
    yield world
    await world.close()


@pytest.fixture
async def amqp_world(
    amqp_cleanup: list[str], amqp_connect: ConnectionFactory, namespace: str
) -> AsyncIterator[AmqpWorld]:
    amqp_cleanup.extend(AGENT_TYPES)
    world = AmqpWorld(amqp_connect, namespace, amqp_cleanup)
    yield world
    await world.close()


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest) -> BusWorld:
    backend: BusWorld = request.getfixturevalue(f"{request.param}_world")
    return backend
