"""Agents' reports written together: the conditional writes that need no read first (running,
progress, a result) and arrive while another is being written share one statement per shape,
like the group commit of dispatches. Each keeps its own guard and gets its own answer."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Final
from uuid import UUID

import asyncpg

from adapters.postgres import task_sql as sql
from adapters.postgres.batcher import Batcher
from adapters.postgres.errors import translates_errors
from adapters.postgres.rows import TASK_SQL_TYPES, db_value, task_from_row
from chiffon.errors import DependencyUnavailable
from chiffon.lifecycle import TERMINAL
from chiffon.model import EventDraft, Task
from chiffon.patch import ReportGuard, TaskPatch

Connect = Callable[[], AbstractAsyncContextManager[asyncpg.Connection]]
Shape = tuple[tuple[str, ...], tuple[str, ...]]  # (field names, statuses the guard allows)


class Report:
    __slots__ = ("event", "fields", "guard", "task_id")

    def __init__(
        self, task_id: UUID, guard: ReportGuard, fields: Mapping[str, Any], event: EventDraft
    ) -> None:
        self.task_id = task_id
        self.guard = guard
        self.fields = fields
        self.event = event

    @property
    def shape(self) -> Shape:
        return tuple(sorted(self.fields)), tuple(sorted(s.value for s in self.guard.statuses))


class ReportBatcher:
    """While one write is in flight, reports queue; the next flush writes them all, one
    statement per shape (one for every `running`, one for every completed result...), with
    the batcher of adapters/postgres/batcher.py. A lone report is written at once, with the
    single-row statement. The ledger holds a task's lock while its write is in flight, so a
    batch never holds two reports of one task."""

    def __init__(self, connection: Connect, max_batch: int = 500) -> None:
        self._connection = connection
        self._batcher: Batcher[Report, Task | None] = Batcher(
            self._write_group,
            max_batch=max_batch,
            group=lambda report: report.shape,
            fails_all=(DependencyUnavailable,),
        )

    async def apply(
        self, task_id: UUID, guard: ReportGuard, patch: TaskPatch, event: EventDraft
    ) -> Task | None:
        return await self._batcher.submit(Report(task_id, guard, patch.values(), event))

    @translates_errors
    async def _write_group(self, group: list[Report]) -> list[Task | None]:
        """Each report's task as moved, or None where its guard refused it."""
        if len(group) == 1:
            r = group[0]
            query, args = sql.apply_query(r.task_id, r.guard, r.fields, r.event, ())
        else:
            query, args = batch_apply_query(group)
        async with self._connection() as conn:
            rows = await conn.fetch(query, *args)
        moved = {task.task_id: task for task in map(task_from_row, rows)}
        return [moved.get(report.task_id) for report in group]


_FINAL: Final = sorted(s.value for s in TERMINAL)
_EVENT_TYPES: Final = ("timestamptz", "text", "text", "text")


def batch_apply_query(group: Sequence[Report]) -> tuple[str, list[Any]]:
    """ONE statement for reports of one shape: each row's conditional UPDATE (its statuses
    and attempt), its timeline entry with its new revision, and, for a row that became final,
    the drop of its unsent work; exactly what `apply_query` does for one."""
    names, statuses = group[0].shape  # names come from TaskPatch only: safe to interpolate
    jsonb = {n for n in names if TASK_SQL_TYPES[n] == "jsonb"}
    columns = ["task_id", "guard_attempt", "guard_agent", "guard_due", *names]
    columns += ["ev_at", "ev_kind", "ev_status", "ev_changes"]
    types = [
        "uuid",
        "int8",
        "uuid",
        "timestamptz",
        *("text" if n in jsonb else TASK_SQL_TYPES[n] for n in names),
        *_EVENT_TYPES,
    ]
    args: list[Any] = [
        [r.task_id for r in group],
        [r.guard.attempt for r in group],
        [r.guard.agent_id for r in group],
        [r.guard.due_by for r in group],
        *([_column(n, r.fields[n], n in jsonb) for r in group] for n in names),
        [r.event.at for r in group],
        [r.event.kind for r in group],
        [r.event.status.value for r in group],
        [json.dumps(r.event.changes) for r in group],
        list(statuses),
        _FINAL,
    ]
    arrays = ", ".join(f"${i}::{t}[]" for i, t in enumerate(types, 1))
    sets = ", ".join(
        ["revision = t.revision + 1"]
        + [f"{n} = v.{n}::jsonb" if n in jsonb else f"{n} = v.{n}" for n in names]
    )
    n_statuses, n_final = len(args) - 1, len(args)
    query = (
        f"WITH v AS (SELECT * FROM unnest({arrays}) AS v({', '.join(columns)})),"
        f" moved AS (UPDATE tasks t SET {sets} FROM v WHERE t.task_id = v.task_id"
        f" AND t.status = ANY(${n_statuses}::text[])"
        " AND (v.guard_attempt IS NULL OR t.attempt = v.guard_attempt)"
        " AND (v.guard_agent IS NULL OR t.agent_id = v.guard_agent)"
        " AND (v.guard_due IS NULL OR t.next_attempt_at IS NULL"
        " OR t.next_attempt_at <= v.guard_due)"
        " RETURNING t.*),"
        f" logged AS (INSERT INTO task_events ({sql.INSERT_EVENT_COLUMNS})"
        " SELECT m.task_id, m.revision, v.ev_at, v.ev_kind, v.ev_status, v.ev_changes::jsonb"
        " FROM moved m JOIN v ON v.task_id = m.task_id)"
    )
    if "attempt" in names:  # nor does a task at its next attempt, as in `apply_query`
        query += (
            ", dropped AS (DELETE FROM outbox o USING moved m WHERE o.task_id = m.task_id"
            " AND o.kind = 'work_request' AND o.sent_at IS NULL)"
        )
        args.pop()
    elif "status" in names:  # a final task needs none of the work that was waiting for its time
        query += (
            ", dropped AS (DELETE FROM outbox o USING moved m WHERE o.task_id = m.task_id"
            f" AND m.status = ANY(${n_final}::text[]) AND o.kind = 'work_request'"
            " AND o.sent_at IS NULL)"
        )
    else:
        args.pop()  # no final status can come of it
    return query + " SELECT * FROM moved", args


def _column(name: str, value: Any, jsonb: bool) -> Any:
    if jsonb:  # as text, cast back: SQL NULL stays NULL
        return None if value is None else json.dumps(value)
    return db_value(name, value)
