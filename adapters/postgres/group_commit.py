"""Group commit: concurrent dispatches share one statement (tasks, first events, outbox rows)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Final
from uuid import UUID

import asyncpg

from adapters.postgres.batcher import Batcher
from adapters.postgres.errors import database_errors
from adapters.postgres.rows import (
    TASK_COLUMNS,
    TASK_SQL_TYPES,
    insert_outbox_sql,
    outbox_arrays,
    task_from_row,
    task_params,
)
from chiffon.errors import DependencyUnavailable, InvalidRequest
from chiffon.model import EventDraft, OutboxMessage, Task

Pending = tuple[Task, EventDraft, Sequence[OutboxMessage]]
Connect = Callable[[], AbstractAsyncContextManager[asyncpg.Connection]]

# Column types for unnest(), from the model; jsonb travels as text and is cast, so NULL
# stays SQL NULL.
_TYPES: Final = TASK_SQL_TYPES
_JSON = frozenset(c for c, t in _TYPES.items() if t == "jsonb")
_COLS = ", ".join(TASK_COLUMNS)
_ARRAYS = ", ".join(
    f"${i}::{'text' if _TYPES[c] == 'jsonb' else _TYPES[c]}[]"
    for i, c in enumerate(TASK_COLUMNS, 1)
)
_SELECT = ", ".join(f"t.{c}::jsonb" if c in _JSON else f"t.{c}" for c in TASK_COLUMNS)
# ONE statement stores the whole batch: the tasks (ON CONFLICT keeps dispatch idempotent on
# task_id, and leaves a used request_id to its first task), then the first timeline entry and
# the outbox rows of only the tasks it inserted. A single statement is atomic on its own: no
# BEGIN/COMMIT round trips around it.
_N = len(TASK_COLUMNS)
_EVENTS = ", ".join(
    f"${_N + i}::{t}[]" for i, t in enumerate(("uuid", "timestamptz", "text", "text", "text"), 1)
)
INSERT_BATCH: Final = (
    f"WITH ins AS (INSERT INTO tasks ({_COLS}) SELECT {_SELECT} FROM unnest({_ARRAYS})"
    f" AS t({_COLS}) ON CONFLICT DO NOTHING RETURNING task_id),"
    " ev AS (INSERT INTO task_events (task_id, revision, at, kind, status, changes)"
    " SELECT e.task_id, 1, e.at, e.kind, e.status, e.changes::jsonb"
    f" FROM unnest({_EVENTS}) AS e(task_id, at, kind, status, changes)"
    " WHERE e.task_id IN (SELECT task_id FROM ins)),"
    f" ob AS ({insert_outbox_sql(_N + 6, 'm.task_id IN (SELECT task_id FROM ins)')})"
    " SELECT * FROM ins"
)
SELECT_MANY: Final = (
    "SELECT * FROM tasks WHERE task_id = ANY($1::uuid[]) OR request_id = ANY($2::uuid[])"
)


class GroupCommitter:
    """While one batch is being committed, new dispatches queue; the next commit takes them
    all at once (adapters/postgres/batcher.py). A lone dispatch is committed at once, so
    latency does not grow at low load, and each caller is answered only after its own rows
    are committed. A batch that fails for anything but an outage is committed again item by
    item, so one bad task fails alone."""

    def __init__(self, connection: Connect, max_batch: int = 500) -> None:
        self._connection = connection
        self._batcher: Batcher[Pending, tuple[Task, bool]] = Batcher(
            self._commit_translated, max_batch=max_batch, fails_all=(DependencyUnavailable,)
        )

    async def create(
        self, task: Task, event: EventDraft, outbox: Sequence[OutboxMessage]
    ) -> tuple[Task, bool]:
        return await self._batcher.submit((task, event, outbox))

    async def _commit_translated(self, batch: list[Pending]) -> list[tuple[Task, bool]]:
        try:
            with database_errors():
                return await self._commit(batch)
        except asyncpg.DataError as exc:  # a value PostgreSQL refuses (the edge should not let
            # one through; if it does, it is the caller's value, not our failure)
            raise InvalidRequest(
                f"the store refused a value of this task: {exc}", {"body": [str(exc)[:200]]}
            ) from exc

    async def _commit(self, batch: list[Pending]) -> list[tuple[Task, bool]]:
        first: dict[Any, Pending] = {}
        for item in batch:
            first.setdefault(item[0].task_id, item)
        fresh = list(first.values())
        args = [
            *_task_arrays([t for t, _, _ in fresh]),
            *_event_arrays([(t.task_id, e) for t, e, _ in fresh]),
            *outbox_arrays([m for _, _, ob in fresh for m in ob]),
        ]
        async with self._connection() as conn:
            rows = await conn.fetch(INSERT_BATCH, *args)
            # A created task is stored exactly as given (every column comes from it): only
            # the ids come back, not 40 columns to decode into the same Task again.
            created = {UUID(int=r["task_id"].int) for r in rows}
            missing = [first[tid][0] for tid in first if tid not in created]
            stored = [first[tid][0] for tid in first if tid in created]
            if missing:  # a used task_id (a repeated dispatch) or request_id: what holds it
                ids = ([t.task_id for t in missing], [t.request_id for t in missing])
                stored += [task_from_row(r) for r in await conn.fetch(SELECT_MANY, *ids)]
        by_task = {t.task_id: t for t in stored}
        by_request = {t.request_id: t for t in stored}
        return [
            (
                by_task.get(t.task_id) or by_request[t.request_id],
                first[t.task_id] is item and t.task_id in created,
            )
            for item in batch
            for t in [item[0]]
        ]


def _task_arrays(tasks: list[Task]) -> list[list[Any]]:
    rows = [task_params(t) for t in tasks]
    return [
        [_json(row[i]) if column in _JSON else row[i] for row in rows]
        for i, column in enumerate(TASK_COLUMNS)
    ]


def _event_arrays(events: list[tuple[Any, EventDraft]]) -> list[list[Any]]:
    return [
        [task_id for task_id, _ in events],
        [e.at for _, e in events],
        [e.kind for _, e in events],
        [e.status.value for _, e in events],
        [json.dumps(e.changes) for _, e in events],
    ]


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)
