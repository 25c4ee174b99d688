"""Mapping between asyncpg records and domain values (tasks, agents, outbox messages)."""

from __future__ import annotations

import enum
import json
import operator
import types
import typing
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import attrs

from adapters.codec import outbox_payload_from_json, outbox_payload_to_json
from chiffon.model import Agent, AgentStatus, OutboxMessage, Task, TaskEvent, TaskStatus

TASK_COLUMNS: tuple[str, ...] = tuple(f.name for f in attrs.fields(Task))


def _sql_type(annotation: Any) -> str:
    """The column type a Task field's Python type is stored as (jsonb for JSON values)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        annotation = args[0]
    for python, sql in _SQL_TYPES:
        if isinstance(annotation, type) and issubclass(annotation, python):
            return sql
    return "jsonb"  # dict[str, Any], Any: a JSON value


_SQL_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "bool"),
    (enum.Enum, "text"),
    (str, "text"),
    (int, "int8"),
    (float, "float8"),
    (datetime, "timestamptz"),
    (UUID, "uuid"),
)
# The one place a task's column types come from: the model's field types.
TASK_SQL_TYPES: dict[str, str] = {
    f.name: _sql_type(f.type) for f in attrs.fields(attrs.resolve_types(Task))
}
AGENT_COLUMNS: tuple[str, ...] = tuple(f.name for f in attrs.fields(Agent))
_TASK_UUIDS = ("task_id", "request_id", "trace_id", "agent_id", "rerun_of", "schedule_id")


def _uuid(value: Any) -> UUID | None:
    # asyncpg returns its own UUID subclass; hand the domain the standard type.
    return None if value is None else UUID(int=value.int)


def task_from_row(row: Mapping[str, Any]) -> Task:
    values = {name: row[name] for name in TASK_COLUMNS}
    for name in _TASK_UUIDS:
        values[name] = _uuid(values[name])
    values["status"] = TaskStatus(values["status"])
    return Task(**values)


_TASK_VALUES = operator.attrgetter(*TASK_COLUMNS)
_STATUS_AT = TASK_COLUMNS.index("status")


def task_params(task: Task) -> list[Any]:
    """The task's values in TASK_COLUMNS order, ready for an INSERT (one attrgetter call:
    a dispatch's hot path; `attrs.asdict` built a dict per task)."""
    values = list(_TASK_VALUES(task))
    values[_STATUS_AT] = task.status.value
    return values


def db_value(name: str, value: Any) -> Any:
    """One TaskPatch value as its column expects it."""
    if name == "status" and value is not None:
        return TaskStatus(value).value
    return value


def event_from_row(row: Mapping[str, Any]) -> TaskEvent:
    return TaskEvent(
        task_id=UUID(int=row["task_id"].int),
        revision=row["revision"],
        at=row["at"],
        kind=row["kind"],
        status=TaskStatus(row["status"]),
        changes=row["changes"],
    )


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


# Outbox rows go in as arrays (one per column, jsonb as text) through one INSERT ... unnest.
OUTBOX_COLUMNS: tuple[str, ...] = (
    "message_id",
    "payload",
    "created_at",
    "not_before",
    "task_id",
    "kind",
)
_OUTBOX_TYPES = ("uuid", "text", "timestamptz", "timestamptz", "uuid", "text")


def insert_outbox_sql(first: int, where: str = "") -> str:
    """INSERT of the outbox arrays bound from parameter `$first` on (6 of them), each row
    only `where` (SQL) holds."""
    arrays = ", ".join(f"${first + i}::{t}[]" for i, t in enumerate(_OUTBOX_TYPES))
    cols = ", ".join(OUTBOX_COLUMNS)
    picked = ", ".join(f"m.{c}::jsonb" if c == "payload" else f"m.{c}" for c in OUTBOX_COLUMNS)
    return (
        f"INSERT INTO outbox ({cols}) SELECT {picked} FROM unnest({arrays}) AS m({cols})"
        f"{f' WHERE {where}' if where else ''} ON CONFLICT (message_id) DO NOTHING"
    )


def outbox_arrays(outbox: Sequence[OutboxMessage]) -> list[list[Any]]:
    rows = []
    for m in outbox:
        data = outbox_payload_to_json(m.payload)
        task = getattr(m.payload, "task", None)  # an announcement carries the whole task
        task_id = task.task_id if task is not None else getattr(m.payload, "task_id", None)
        rows.append(
            (m.message_id, json.dumps(data), m.created_at, m.not_before, task_id, data["type"])
        )
    return [[row[i] for row in rows] for i in range(len(OUTBOX_COLUMNS))]


def outbox_from_row(row: Mapping[str, Any]) -> OutboxMessage:
    return OutboxMessage(
        message_id=UUID(int=row["message_id"].int),
        payload=outbox_payload_from_json(row["payload"]),
        created_at=row["created_at"],
        not_before=row["not_before"],
    )
