"""Agents' reports written together: the conditional writes that need no read first (running,
progress, a result) and arrive while another is being written share one statement per shape,
like the group commit of dispatches. Each keeps its own guard and gets its own answer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Final
from uuid import UUID

import asyncpg

from adapters.postgres import task_sql as sql
from adapters.postgres.errors import database_errors
from adapters.postgres.rows import TASK_SQL_TYPES, db_value, task_from_row
from chiffon.errors import DependencyUnavailable
from chiffon.lifecycle import TERMINAL
from chiffon.model import EventDraft, Task
from chiffon.patch import ReportGuard, TaskPatch

Connect = Callable[[], AbstractAsyncContextManager[asyncpg.Connection]]
Shape = tuple[tuple[str, ...], tuple[str, ...]]  # (field names, statuses the guard allows)


class Report:
    __slots__ = ("event", "fields", "future", "guard", "task_id")

    def __init__(
        self, task_id: UUID, guard: ReportGuard, fields: Mapping[str, Any], event: EventDraft
    ) -> None:
        self.task_id = task_id
        self.guard = guard
        self.fields = fields
        self.event = event
        self.future: asyncio.Future[Task | None] = asyncio.get_running_loop().create_future()

    @property
    def shape(self) -> Shape:
        return tuple(sorted(self.fields)), tuple(sorted(s.value for s in self.guard.statuses))


class ReportBatcher:
    """While one write is in flight, reports queue; the next flush writes them all, one
    statement per shape (one for every `running`, one for every completed result...). A lone
    report is written at once, with the single-row statement. The ledger holds a task's lock
    while its write is in flight, so a batch never holds two reports of one task."""

    def __init__(self, connection: Connect, max_batch: int = 500) -> None:
        self._connection = connection
        self._max_batch = max_batch
        self._queue: list[Report] = []
        self._flusher: asyncio.Task[None] | None = None

    async def apply(
        self, task_id: UUID, guard: ReportGuard, patch: TaskPatch, event: EventDraft
    ) -> Task | None:
        report = Report(task_id, guard, patch.values(), event)
        self._queue.append(report)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await report.future

    async def _flush(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
            shapes: dict[Shape, list[Report]] = {}
            for report in batch:
                shapes.setdefault(report.shape, []).append(report)
            for group in shapes.values():
                await self._write(group)

    async def _write(self, group: list[Report]) -> None:
        try:
            with database_errors():
                moved = await self._write_group(group)
        except DependencyUnavailable as exc:  # every report would fail the same way
            _answer(group, exc)
        except Exception as exc:
            if len(group) == 1:
                _answer(group, exc)
            else:  # one bad value must not fail the others: each on its own
                for report in group:
                    await self._write([report])
        else:
            for report in group:
                if not report.future.done():
                    report.future.set_result(moved.get(report.task_id))

    async def _write_group(self, group: list[Report]) -> dict[UUID, Task]:
        if len(group) == 1:
            r = group[0]
            query, args = sql.apply_query(r.task_id, r.guard, r.fields, r.event, ())
        else:
            query, args = batch_apply_query(group)
        async with self._connection() as conn:
            rows = await conn.fetch(query, *args)
        return {task.task_id: task for task in map(task_from_row, rows)}


def _answer(group: list[Report], exc: Exception) -> None:
    for report in group:
        if not report.future.done():
            report.future.set_exception(exc)


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
