"""Port: durable task storage with its transactional outbox."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

import attrs

from chiffon.model import OutboxMessage, Task, TaskStatus


@attrs.frozen
class TaskFilter:
    status: TaskStatus | None = None
    work_type: str | None = None
    agent_type: str | None = None
    trace_id: UUID | None = None


@attrs.frozen
class PageCursor:
    """Position of the last task of a page in the (created_at, task_id) descending order."""

    created_at: datetime
    task_id: UUID


@attrs.frozen
class TaskPage:
    items: tuple[Task, ...]
    next_cursor: PageCursor | None


Publish = Callable[[Sequence[OutboxMessage]], Awaitable[None]]

# Fields `transition` may change; everything else about a task is fixed at dispatch.
MUTABLE_FIELDS: frozenset[str] = frozenset(
    {
        "status",
        "attempt",
        "progress_percent",
        "progress_message",
        "output",
        "result",
        "error_message",
        "exit_code",
        "duration_ms",
        "agent_id",
        "started_at",
        "finished_at",
        "updated_at",
    }
)


@attrs.frozen
class StoreCounts:
    tasks_by_status: Mapping[TaskStatus, int]
    outbox_unsent: int


class TaskRepository(Protocol):
    """Tasks and the outbox. Implementations return copies, never live objects.

    Errors: a store that cannot be reached raises `chiffon.errors.DependencyUnavailable`.
    """

    async def create(self, task: Task, outbox: Sequence[OutboxMessage]) -> tuple[Task, bool]:
        """Store `task` and its outbox messages in one unit of work.

        If a task with the same task_id exists, nothing is stored and `(existing, False)` is
        returned; otherwise `(task, True)`.
        """
        ...

    async def get(self, task_id: UUID) -> Task | None:
        """The task, or None."""
        ...

    async def page(
        self, flt: TaskFilter, limit: int, after: PageCursor | None, *, light: bool = False
    ) -> TaskPage:
        """Tasks matching `flt`, newest first by (created_at, task_id), starting after `after`.

        `next_cursor` is set when more tasks may follow. Stable under concurrent inserts.
        With `light`, the bulky values are not read: `parameters` is `{}`, `result` and
        `output` are None (for summaries, whose memory must not grow with payload sizes).
        """
        ...

    async def transition(
        self,
        task_id: UUID,
        from_statuses: frozenset[TaskStatus],
        attempt: int | None,
        changes: Mapping[str, Any],
        outbox: Sequence[OutboxMessage] = (),
    ) -> Task | None:
        """Apply `changes` (keys from MUTABLE_FIELDS) only if the task's status is in
        `from_statuses` and, when `attempt` is given, its attempt equals it; store `outbox` in
        the same unit of work. Returns the updated task, or None when the condition failed (so two
        writers can never both move a task, nor move it backwards)."""
        ...

    async def expire_due(self, now: datetime) -> list[Task]:
        """Move every pending or running task whose deadline_at <= now to timed_out (as one
        atomic step) and return exactly the tasks this call changed."""
        ...

    async def running_on(self, agent_id: UUID) -> list[Task]:
        """Tasks in `running` whose current attempt is held by `agent_id`."""
        ...

    async def enqueue(self, outbox: Sequence[OutboxMessage]) -> None:
        """Store outbox messages on their own."""
        ...

    async def relay_outbox(
        self, publish: Publish, limit: int, created_before: datetime | None = None
    ) -> int:
        """Claim up to `limit` unsent outbox messages (only those created before
        `created_before`, when given), oldest first, skipping ones another relay holds; call
        `publish` with them; mark them sent in the same unit of work. If `publish` raises,
        none is marked (but the `confirmed` ones of a PartiallyPublished) and the error
        propagates. Returns how many were sent."""
        ...

    async def mark_sent(self, message_ids: Sequence[UUID]) -> None:
        """Mark these outbox messages sent (the relay published them itself)."""
        ...

    async def counts(self) -> StoreCounts:
        """How many tasks are in each status (every status present, zero included), and how
        many outbox messages wait to be sent; for gauges, read rarely (it may scan)."""
        ...

    async def ping(self) -> None:
        """Return if the store answers; raise DependencyUnavailable otherwise."""
        ...
