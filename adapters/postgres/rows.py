"""Mapping between asyncpg records and domain values (tasks, agents, outbox messages)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

import attrs

from adapters.codec import outbox_payload_from_json, outbox_payload_to_json
from chiffon.model import Agent, AgentStatus, OutboxMessage, Task, TaskStatus

TASK_COLUMNS: tuple[str, ...] = tuple(f.name for f in attrs.fields(Task))
AGENT_COLUMNS: tuple[str, ...] = tuple(f.name for f in attrs.fields(Agent))
_TASK_UUIDS = ("task_id", "request_id", "trace_id", "agent_id")


def _uuid(value: Any) -> UUID | None:
    # asyncpg returns its own UUID subclass; hand the domain the standard type.
    return None if value is None else UUID(int=value.int)


def task_from_row(row: Mapping[str, Any]) -> Task:
    values = {name: row[name] for name in TASK_COLUMNS}
    for name in _TASK_UUIDS:
        values[name] = _uuid(values[name])
    values["status"] = TaskStatus(values["status"])
    return Task(**values)


def task_params(task: Task) -> list[Any]:
    """The task's values in TASK_COLUMNS order, ready for an INSERT."""
    values = attrs.asdict(task, recurse=False)
    values["status"] = task.status.value
    return [values[name] for name in TASK_COLUMNS]


def db_value(name: str, value: Any) -> Any:
    """One MUTABLE_FIELDS value as its column expects it."""
    if name == "status" and value is not None:
        return TaskStatus(value).value
    return value


def agent_from_row(row: Mapping[str, Any]) -> Agent:
    return Agent(
        agent_id=UUID(int=row["agent_id"].int),
        agent_type=row["agent_type"],
        status=AgentStatus(row["status"]),
        capabilities=tuple(row["capabilities"]),
        max_concurrency=row["max_concurrency"],
        running_tasks=tuple(UUID(int=t.int) for t in row["running_tasks"]),
        resources=row["resources"],
        last_heartbeat_at=row["last_heartbeat_at"],
    )


def agent_params(agent: Agent) -> list[Any]:
    return [
        agent.agent_id,
        agent.agent_type,
        agent.status.value,
        list(agent.capabilities),
        agent.max_concurrency,
        list(agent.running_tasks),
        agent.resources,
        agent.last_heartbeat_at,
    ]


def outbox_params(outbox: Sequence[OutboxMessage]) -> list[tuple[Any, ...]]:
    return [(m.message_id, outbox_payload_to_json(m.payload), m.created_at) for m in outbox]


def outbox_from_row(row: Mapping[str, Any]) -> OutboxMessage:
    return OutboxMessage(
        message_id=UUID(int=row["message_id"].int),
        payload=outbox_payload_from_json(row["payload"]),
        created_at=row["created_at"],
    )
