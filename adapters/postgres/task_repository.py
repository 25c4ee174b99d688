"""Driven adapter: task storage and the transactional outbox on PostgreSQL."""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from adapters.postgres import task_sql as sql
from adapters.postgres.errors import connection, transaction, translates_errors
from adapters.postgres.group_commit import GroupCommitter
from adapters.postgres.report_batch import ReportBatcher
from adapters.postgres.rows import event_from_row, outbox_arrays, outbox_from_row, task_from_row
from adapters.postgres.task_activity import read_activity
from chiffon.json_values import json_fields
from chiffon.model import (
    ChangeKind,
    EventDraft,
    OutboxMessage,
    Task,
    TaskEvent,
    TaskStatus,
    WaitingReason,
)
from chiffon.patch import ReportGuard, TaskPatch
from chiffon.stats import Activity, Span
from ports.bus import PartiallyPublished
from ports.task_repository import (
    PageCursor,
    Publish,
    StoreCounts,
    TaskFilter,
    TaskPage,
    TaskRepository,
)

PRUNE_EVERY_S = 300.0


class _PublishFailed(Exception):
    """Carries the publisher's own error through the database error translation."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class PostgresTaskRepository(TaskRepository):
    """Every read-modify-write is one transaction or one conditional statement, so any number
    of orchestrator replicas can share the tables."""

    def __init__(self, pool: asyncpg.Pool, acquire_timeout: float = 5.0) -> None:
        self._pool = pool
        self._acquire_timeout = acquire_timeout
        self._next_prune = 0.0
        self._group = GroupCommitter(self._connection)
        self._reports = ReportBatcher(self._connection)

    async def create(
        self, task: Task, event: EventDraft, outbox: Sequence[OutboxMessage]
    ) -> tuple[Task, bool]:
        # Concurrent dispatches are committed together (group commit): same durability,
        # one transaction and a few round trips for a whole burst.
        return await self._group.create(task, event, outbox)

    @translates_errors
    async def get(self, task_id: UUID) -> Task | None:
        async with self._connection() as conn:
            row = await conn.fetchrow(sql.SELECT_TASK, task_id)
        return None if row is None else task_from_row(row)

    @translates_errors
    async def page(
        self, flt: TaskFilter, limit: int, after: PageCursor | None, *, light: bool = False
    ) -> TaskPage:
        query, args = sql.page_query(flt, limit, after, light)
        async with self._connection() as conn:
            rows = await conn.fetch(query, *args)
        items = tuple(task_from_row(r) for r in rows[:limit])
        if len(rows) <= limit or not items:
            return TaskPage(items, None)
        last = items[-1]
        return TaskPage(items, PageCursor(last.created_at, last.task_id))

    @translates_errors
    async def apply(
        self,
        task_id: UUID,
        revision: int,
        patch: TaskPatch,
        event: EventDraft,
        outbox: Sequence[OutboxMessage] = (),
    ) -> Task | None:
        query, args = sql.apply_query(task_id, revision, patch.values(), event, outbox)
        async with self._connection() as conn:  # one statement: atomic on its own
            row = await conn.fetchrow(query, *args)
        return None if row is None else task_from_row(row)

    @translates_errors
    async def apply_report(
        self, task_id: UUID, guard: ReportGuard, patch: TaskPatch, event: EventDraft
    ) -> Task | None:
        # Written without a read: batched with the other reports in flight.
        return await self._reports.apply(task_id, guard, patch, event)

    @translates_errors
    async def events(self, task_id: UUID, after: int = 0, limit: int = 1000) -> list[TaskEvent]:
        async with self._connection() as conn:
            rows = await conn.fetch(sql.SELECT_EVENTS, task_id, after, limit)
        return [event_from_row(r) for r in rows]

    @translates_errors
    async def timelines(self, task_ids: Sequence[UUID]) -> dict[UUID, list[TaskEvent]]:
        async with self._connection() as conn:
            rows = await conn.fetch(sql.SELECT_TIMELINES, list(task_ids))
        found: dict[UUID, list[TaskEvent]] = {}
        for row in rows:
            event = event_from_row(row)
            found.setdefault(event.task_id, []).append(event)
        return found

    @translates_errors
    async def due_for_timeout(self, now: datetime, limit: int = 500) -> list[Task]:
        async with self._connection() as conn:
            rows = await conn.fetch(sql.DUE_FOR_TIMEOUT, now, limit)
        return [task_from_row(r) for r in rows]

    @translates_errors
    async def awaiting_cancel(self, agent_id: UUID) -> list[Task]:
        async with self._connection() as conn:
            rows = await conn.fetch(sql.AWAITING_CANCEL, agent_id)
        return [task_from_row(r) for r in rows]

    @translates_errors
    async def reconcile_waiting(
        self, agent_type: str, due_reason: WaitingReason, now: datetime, limit: int = 500
    ) -> list[Task]:
        async with self._transaction() as conn:
            rows = await conn.fetch(sql.RECONCILE_WAITING, agent_type, due_reason.value, now, limit)
            moved = [task_from_row(r) for r in rows]
            if moved:  # the timeline entries, with changes in the API's own JSON
                await conn.execute(sql.INSERT_EVENTS, *_waiting_events(moved, now))
        return moved

    @translates_errors
    async def orphaned(
        self, live: Collection[UUID], started_before: datetime, limit: int = 500
    ) -> list[Task]:
        async with self._connection() as conn:
            rows = await conn.fetch(sql.ORPHANED, list(live), started_before, limit)
        return [task_from_row(r) for r in rows]

    @translates_errors
    async def pending_without_work(self, limit: int = 500) -> list[Task]:
        async with self._connection() as conn:
            rows = await conn.fetch(sql.PENDING_WITHOUT_WORK, limit)
        return [task_from_row(r) for r in rows]

    @translates_errors
    async def running_on(self, agent_id: UUID) -> list[Task]:
        async with self._connection() as conn:
            rows = await conn.fetch(sql.RUNNING_ON, agent_id)
        return [task_from_row(r) for r in rows]

    @translates_errors
    async def enqueue(self, outbox: Sequence[OutboxMessage]) -> None:
        async with self._transaction() as conn:
            await _insert_outbox(conn, outbox)

    async def relay_outbox(
        self,
        publish: Publish,
        limit: int,
        created_before: datetime | None = None,
        due_by: datetime | None = None,
    ) -> int:
        error: Exception | None = None
        try:
            sent = await self._relay(publish, limit, created_before, due_by)
        except _PublishFailed as failed:
            error = failed.error
        if error is not None:
            raise error  # the publisher's own error, untranslated (it may be an OSError too)
        if sent and time.monotonic() >= self._next_prune:
            await self._prune()
        return sent

    @translates_errors
    async def mark_sent(self, message_ids: Sequence[UUID]) -> None:
        if message_ids:
            async with self._connection() as conn:
                await conn.execute(sql.MARK_SENT, list(message_ids))

    @translates_errors
    async def delete_finished(self, before: datetime, limit: int) -> int:
        async with self._transaction() as conn:
            if not await conn.fetchval(
                "SELECT pg_try_advisory_xact_lock($1)", sql.RETENTION_LOCK_KEY
            ):
                return 0  # another replica is deleting: one at a time
            gone: int = await conn.fetchval(sql.DELETE_FINISHED, before, limit)
            return gone

    @translates_errors
    async def activity(self, span: Span) -> Activity:
        async with self._connection() as conn:
            return await read_activity(conn, span)

    @translates_errors
    async def counts(self) -> StoreCounts:
        async with self._connection() as conn:
            rows = await conn.fetch(sql.COUNT_BY_STATUS)
            unsent = await conn.fetchval(sql.COUNT_UNSENT)
        by_status = dict.fromkeys(TaskStatus, 0)
        by_status.update((TaskStatus(r["status"]), r["n"]) for r in rows)
        return StoreCounts(by_status, unsent)

    @translates_errors
    async def ping(self) -> None:
        async with self._connection() as conn:
            await conn.fetchval("SELECT 1")

    @translates_errors
    async def _relay(
        self, publish: Publish, limit: int, before: datetime | None, due_by: datetime | None
    ) -> int:
        async with self._transaction() as conn:
            rows = await conn.fetch(sql.CLAIM_OUTBOX, limit, before, due_by)
            if not rows:
                return 0
            batch = [outbox_from_row(r) for r in rows]
            try:
                await publish(batch)
            except PartiallyPublished as exc:  # keep what got out; the rest goes again
                await conn.execute(sql.MARK_SENT, list(exc.confirmed))
                partial = exc
            except Exception as exc:  # rolls the claim back; re-raised by relay_outbox
                raise _PublishFailed(exc) from exc
            else:
                await conn.execute(sql.MARK_SENT, [m.message_id for m in batch])
                return len(batch)
        raise _PublishFailed(partial)  # after the commit of the confirmed part

    def _connection(self) -> AbstractAsyncContextManager[asyncpg.Connection]:
        return connection(self._pool, self._acquire_timeout)

    def _transaction(self) -> AbstractAsyncContextManager[asyncpg.Connection]:
        return transaction(self._pool, self._acquire_timeout)

    @translates_errors
    async def _prune(self) -> None:
        self._next_prune = time.monotonic() + PRUNE_EVERY_S
        async with self._connection() as conn:
            await conn.execute(sql.PRUNE_SENT)


def _waiting_events(moved: list[Task], now: datetime) -> list[list[Any]]:
    changes = [
        json.dumps(
            json_fields(
                {
                    "waiting_reason": t.waiting_reason,
                    "waiting_until": t.waiting_until,
                    "updated_at": now,
                }
            )
        )
        for t in moved
    ]
    return [
        [t.task_id for t in moved],
        [t.revision for t in moved],
        [now] * len(moved),
        [ChangeKind.WAITING.value] * len(moved),
        [t.status.value for t in moved],
        changes,
    ]


async def _insert_outbox(conn: asyncpg.Connection, outbox: Sequence[OutboxMessage]) -> None:
    if outbox:
        await conn.execute(sql.INSERT_OUTBOX, *outbox_arrays(outbox))
