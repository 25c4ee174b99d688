"""SQL of the task repository: fixed statements and the builders for page and transition."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final
from uuid import UUID

from adapters.postgres.rows import TASK_COLUMNS, db_value
from chiffon.model import TaskStatus
from ports.task_repository import MUTABLE_FIELDS, PageCursor, TaskFilter

_COLS = ", ".join(TASK_COLUMNS)
_ARGS = ", ".join(f"${i}" for i in range(1, len(TASK_COLUMNS) + 1))

INSERT_TASK: Final = (
    f"INSERT INTO tasks ({_COLS}) VALUES ({_ARGS}) ON CONFLICT (task_id) DO NOTHING RETURNING *"
)
SELECT_TASK: Final = "SELECT * FROM tasks WHERE task_id = $1"
RUNNING_ON: Final = (
    "SELECT * FROM tasks WHERE status = 'running' AND agent_id = $1 ORDER BY created_at, task_id"
)
INSERT_OUTBOX: Final = (
    "INSERT INTO outbox (message_id, payload, created_at) VALUES ($1, $2, $3)"
    " ON CONFLICT (message_id) DO NOTHING"
)

# The message mirrors Python's f"timed out after {timeout_s}s" (30.0 -> "30.0", None -> "None").
EXPIRE_DUE: Final = """
WITH expired AS (
    UPDATE tasks SET
        status = 'timed_out', finished_at = $1, updated_at = $1,
        error_message = 'timed out after ' || CASE
            WHEN timeout_s IS NULL THEN 'None'
            WHEN timeout_s = trunc(timeout_s) AND abs(timeout_s) < 1e16
                THEN trunc(timeout_s)::bigint::text || '.0'
            ELSE timeout_s::text
        END || 's'
    WHERE status IN ('pending', 'running') AND deadline_at <= $1
    RETURNING *
)
SELECT * FROM expired ORDER BY created_at, task_id
"""

CLAIM_OUTBOX: Final = """
SELECT message_id, payload, created_at FROM outbox
WHERE sent_at IS NULL AND ($2::timestamptz IS NULL OR created_at < $2)
ORDER BY created_at, message_id
LIMIT $1 FOR UPDATE SKIP LOCKED
"""
MARK_SENT: Final = (
    "UPDATE outbox SET sent_at = now() WHERE message_id = ANY($1::uuid[]) AND sent_at IS NULL"
)
COUNT_BY_STATUS: Final = "SELECT status, count(*) AS n FROM tasks GROUP BY status"
COUNT_UNSENT: Final = "SELECT count(*) FROM outbox WHERE sent_at IS NULL"
PRUNE_SENT: Final = "DELETE FROM outbox WHERE sent_at < now() - interval '1 hour'"


# Every column, but the bulky ones left unread (a light page: see TaskRepository.page).
_LEFT_OUT: Final = {"parameters": "'{}'::jsonb", "result": "NULL::jsonb", "output": "NULL::text"}
LIGHT_COLUMNS: Final = ", ".join(
    f"{_LEFT_OUT[c]} AS {c}" if c in _LEFT_OUT else c for c in TASK_COLUMNS
)


def page_query(
    flt: TaskFilter, limit: int, after: PageCursor | None, light: bool = False
) -> tuple[str, list[Any]]:
    """One keyset page plus one row (limit + 1) that tells whether another page follows."""
    filters: list[tuple[str, Any]] = [
        ("status", None if flt.status is None else flt.status.value),
        ("work_type", flt.work_type),
        ("agent_type", flt.agent_type),
        ("trace_id", flt.trace_id),
    ]
    where: list[str] = []
    args: list[Any] = []
    for column, value in filters:
        if value is not None:  # only present filters, so the planner picks the matching index
            args.append(value)
            where.append(f"{column} = ${len(args)}")
    if after is not None:
        args += [after.created_at, after.task_id]
        where.append(f"(created_at, task_id) < (${len(args) - 1}, ${len(args)})")
    args.append(limit + 1)
    clause = f"WHERE {' AND '.join(where)} " if where else ""
    columns = LIGHT_COLUMNS if light else "*"
    sql = (
        f"SELECT {columns} FROM tasks {clause}"
        f"ORDER BY created_at DESC, task_id DESC LIMIT ${len(args)}"
    )
    return sql, args


def transition_query(
    task_id: UUID,
    from_statuses: frozenset[TaskStatus],
    attempt: int | None,
    changes: Mapping[str, Any],
) -> tuple[str, list[Any]]:
    """ONE conditional UPDATE: it applies only if status and attempt still match."""
    unknown = set(changes) - MUTABLE_FIELDS
    if unknown:
        raise ValueError(f"fields not changeable: {sorted(unknown)}")
    args: list[Any] = [task_id, sorted(s.value for s in from_statuses), attempt]
    sets: list[str] = []
    for name in sorted(changes):  # names come from MUTABLE_FIELDS only: safe to interpolate
        args.append(db_value(name, changes[name]))
        sets.append(f"{name} = ${len(args)}")
    assignments = ", ".join(sets) or "status = status"
    sql = (
        f"UPDATE tasks SET {assignments} WHERE task_id = $1 AND status = ANY($2::text[])"
        " AND ($3::int IS NULL OR attempt = $3) RETURNING *"
    )
    return sql, args
