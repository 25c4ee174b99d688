"""Test data for the store contract suites: tasks, agents and outbox messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import attrs

from chiffon.messages import work_request_for
from chiffon.model import Agent, AgentStatus, Cancel, OutboxMessage, Task, TaskStatus

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def make_task(created_s: float = 0, **overrides: Any) -> Task:
    created = at(created_s)
    task = Task(
        task_id=uuid4(),
        request_id=uuid4(),
        trace_id=uuid4(),
        work_type="echo",
        agent_type="demo",
        priority=3,
        parameters={"text": "hi", "nested": {"n": [1, 2.5, None, True]}},
        status=TaskStatus.PENDING,
        created_at=created,
        updated_at=created,
    )
    return attrs.evolve(task, **overrides)


def work_message(task: Task, created_s: float = 0) -> OutboxMessage:
    return OutboxMessage(uuid4(), work_request_for(task), at(created_s))


def cancel_message(task_id: UUID, created_s: float = 0) -> OutboxMessage:
    return OutboxMessage(uuid4(), Cancel(task_id, "cancelled by caller"), at(created_s))


def make_agent(agent_type: str = "demo", heard_s: float = 0, **overrides: Any) -> Agent:
    agent = Agent(
        agent_id=uuid4(),
        agent_type=agent_type,
        status=AgentStatus.ONLINE,
        capabilities=("echo", "sleep"),
        max_concurrency=2,
        running_tasks=(uuid4(),),
        resources={"cpu_percent": 12.5, "disks": [{"free": 10}]},
        last_heartbeat_at=at(heard_s),
    )
    return attrs.evolve(agent, **overrides)
