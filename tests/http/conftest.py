"""HTTP tests run against the app exactly as the composition root wires it: once on the
in-memory store and once on PostgreSQL (in-memory bus, demo agent in process)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.web_runner import BaseRunner

from adapters.http.server import ChiffonAppRunner
from adapters.postgres.agent_registry import PostgresAgentRegistry
from adapters.postgres.schedule_repository import PostgresScheduleRepository
from adapters.postgres.task_repository import PostgresTaskRepository
from chiffon.credentials import ReplicaKey
from composition_root import Orchestrator, Settings, build_container, wire_orchestrator
from ports.agent_registry import AgentRegistry
from ports.schedule_repository import ScheduleRepository
from ports.task_repository import TaskRepository
from tests.helpers import TEST_KEY
from tests.pg_fixtures import pg_database, pg_pool

__all__ = ["pg_database", "pg_pool"]

HEARTBEAT_S = 0.2
Factory = Callable[..., Awaitable[tuple[TestClient, Orchestrator]]]


class HardenedTestServer(TestServer):
    """aiohttp's test server with the production runner (our protocol class), so the tests
    see what `chiffon serve` answers to malformed requests."""

    def __init__(self, app: web.Application) -> None:
        super().__init__(app, host="127.0.0.1")

    async def _make_runner(self, **kwargs: Any) -> BaseRunner:
        return ChiffonAppRunner(self.app, **kwargs)


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
def make_api(request: pytest.FixtureRequest) -> Factory:
    pool = request.getfixturevalue("pg_pool") if request.param == "postgres" else None
    # After the pool: the apps stop (their agent's last reports applied) before it closes.
    aiohttp_client = request.getfixturevalue("aiohttp_client")

    async def make(**settings: Any) -> tuple[TestClient, Orchestrator]:
        instances: dict[Any, object] = {ReplicaKey: TEST_KEY, **settings.pop("instances", {})}
        if pool is not None and TaskRepository not in instances:
            instances[TaskRepository] = PostgresTaskRepository(pool)
            instances[AgentRegistry] = PostgresAgentRegistry(pool)
            instances[ScheduleRepository] = PostgresScheduleRepository(pool)
        # A short drain at shutdown: a test that leaves a task running does not wait for it.
        base: dict[str, Any] = {"heartbeat_interval_s": HEARTBEAT_S, "shutdown_grace_s": 0.2}
        wired = wire_orchestrator(build_container(Settings(**{**base, **settings}), instances))
        client = await aiohttp_client(HardenedTestServer(wired.app))
        return client, wired

    return make


@pytest.fixture
async def api(make_api: Factory) -> TestClient:
    client, _ = await make_api()
    return client
