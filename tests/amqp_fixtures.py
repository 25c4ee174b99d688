"""RabbitMQ test fixtures: a fresh vhost per session, a unique namespace and connections per test.

Import the fixtures into a conftest. A broker that does not answer FAILS the tests (never skips).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

from adapters.amqp.connection import AmqpConnection
from adapters.amqp.topology import Topology

AMQP_URL_ENV = "CHIFFON_TEST_AMQP_URL"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
CONNECT_TIMEOUT_S = 10.0

ConnectionFactory = Callable[[str], Awaitable[AmqpConnection]]


def base_url() -> str:
    return os.environ.get(AMQP_URL_ENV, DEFAULT_AMQP_URL)


def rabbitmqctl(*args: str, timeout_s: float = 60.0) -> str:
    """Run rabbitmqctl (as root on the dev/CI machine); fail the test loudly if it fails."""
    try:
        done = subprocess.run(
            ["rabbitmqctl", *args], capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"rabbitmqctl {' '.join(args)} did not run: {exc}", pytrace=False)
    if done.returncode != 0:
        pytest.fail(f"rabbitmqctl {' '.join(args)} failed: {done.stderr.strip()}", pytrace=False)
    return done.stdout


async def close_vhost_connections(vhost: str) -> None:
    """Drop every client connection of `vhost` from the broker side (a network fault)."""
    await asyncio.to_thread(
        rabbitmqctl, "close_all_connections", "-p", vhost, "--limit", "1000", "test fault"
    )


def _check_reachable(url: str) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5672
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as exc:
        pytest.fail(
            f"RabbitMQ does not answer at {host}:{port} ({exc}); start it (rabbitmq-server "
            f"-detached; rabbitmqctl await_startup) or set {AMQP_URL_ENV}",
            pytrace=False,
        )


@contextmanager
def fresh_vhost(prefix: str) -> Iterator[str]:
    """A new vhost `<prefix>-<hex>` the test user may use; deleted (with its queues and
    connections) on exit. RabbitMQ that does not answer FAILS the test."""
    _check_reachable(base_url())
    vhost = f"{prefix}-{secrets.token_hex(6)}"
    user = urlsplit(base_url()).username or "guest"
    rabbitmqctl("add_vhost", vhost)
    try:
        rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
        yield vhost
    finally:
        rabbitmqctl("delete_vhost", vhost)


@pytest.fixture(scope="session")
def amqp_vhost() -> Iterator[str]:
    """A fresh vhost for this test session, deleted (with everything in it) afterwards."""
    with fresh_vhost("chiffon-test") as vhost:
        yield vhost


@pytest.fixture(scope="session")
def amqp_url(amqp_vhost: str) -> str:
    parts = urlsplit(base_url())
    return urlunsplit(parts._replace(path="/" + quote(amqp_vhost, safe="")))


@pytest.fixture
def namespace() -> str:
    """A namespace (exchange/queue name prefix) of this test only."""
    return f"t{secrets.token_hex(5)}"


@pytest.fixture
async def amqp_connect(amqp_url: str) -> AsyncIterator[ConnectionFactory]:
    """Open supervised connections (connected before returned); all closed at teardown."""
    opened: list[AmqpConnection] = []

    async def connect(name: str) -> AmqpConnection:
        connection = AmqpConnection(amqp_url, name)
        opened.append(connection)
        await connection.start(timeout_s=CONNECT_TIMEOUT_S)
        return connection

    yield connect
    for connection in reversed(opened):
        await connection.close()


@pytest.fixture
async def amqp_cleanup(amqp_connect: ConnectionFactory, namespace: str) -> AsyncIterator[list[str]]:
    """Teardown deletes the namespace's exchanges and queues; append agent types used."""
    agent_types: list[str] = []
    yield agent_types
    connection = await amqp_connect("cleanup")
    ch = await connection.channel(publisher_confirms=False)
    await Topology(namespace).delete(ch, tuple(agent_types))
    await ch.close()
