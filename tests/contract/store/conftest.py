"""Store contract fixtures: each suite runs over the in-memory twin and PostgreSQL."""

from __future__ import annotations

import pytest

from adapters.memory.agent_registry import InMemoryAgentRegistry
from adapters.memory.schedule_repository import InMemoryScheduleRepository
from adapters.memory.task_repository import InMemoryTaskRepository
from adapters.postgres.agent_registry import PostgresAgentRegistry
from adapters.postgres.schedule_repository import PostgresScheduleRepository
from adapters.postgres.task_repository import PostgresTaskRepository
from ports.agent_registry import AgentRegistry
from ports.schedule_repository import ScheduleRepository
from ports.task_repository import TaskRepository
from tests.pg_fixtures import pg_database, pg_empty_database, pg_pool

__all__ = ["pg_database", "pg_empty_database", "pg_pool"]

BACKENDS = ["memory", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def repo(request: pytest.FixtureRequest) -> TaskRepository:
    if request.param == "memory":
        return InMemoryTaskRepository()
    return PostgresTaskRepository(request.getfixturevalue("pg_pool"))


@pytest.fixture(params=BACKENDS)
def registry(request: pytest.FixtureRequest) -> AgentRegistry:
    if request.param == "memory":
        return InMemoryAgentRegistry()
    return PostgresAgentRegistry(request.getfixturevalue("pg_pool"))


@pytest.fixture(params=BACKENDS)
def schedules(request: pytest.FixtureRequest) -> ScheduleRepository:
    if request.param == "memory":
        return InMemoryScheduleRepository()
    return PostgresScheduleRepository(request.getfixturevalue("pg_pool"))
