"""Port: durable task storage with its transactional outbox."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

import attrs

from chiffon.model import EventDraft, OutboxMessage, Task, TaskEvent, TaskStatus, WaitingReason
from chiffon.patch import ReportGuard, TaskPatch
from chiffon.stats import Activity, Span


@attrs.frozen
class TaskFilter:
    """Which tasks a page holds: every given field must match (all None: every task).

    `id_prefix`: the first hex digits of the task id (lowercase, no dashes, 1..32).
    `schedule_id`: tasks fired by that schedule; `concurrency_key`: tasks of that key.
    `created_after` is inclusive, `created_before` exclusive. `text`: a case-insensitive
    substring of the parameters' or result's JSON text or of the error message."""

    status: TaskStatus | None = None
    waiting_reason: WaitingReason | None = None
    work_type: str | None = None
    agent_type: str | None = None
    trace_id: UUID | None = None
    id_prefix: str | None = None
    agent_id: UUID | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    text: str | None = None
    schedule_id: UUID | None = None
    concurrency_key: str | None = None

    def id_bounds(self) -> tuple[UUID, UUID] | None:
        """The smallest and largest task ids with `id_prefix` (ids order as their hex)."""
        if self.id_prefix is None:
            return None
        return UUID(self.id_prefix.ljust(32, "0")), UUID(self.id_prefix.ljust(32, "f"))


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


@attrs.frozen
class Admission:
    """What `LedgerStore.admit` did: `task` is the task as stored once admitted (None: not
    admitted); `full`: not admitted because its key's slots are all held."""

    task: Task | None
    full: bool = False


@attrs.frozen
class StoreCounts:
    tasks_by_status: Mapping[TaskStatus, int]
    outbox_unsent: int


class LedgerStore(Protocol):
    """What the ledger writes (and reads back to decide): every change of a task goes through
    `create` or `apply`, each one unit of work with its timeline entry and outbox messages.

    Implementations return copies, never live objects; a store that cannot be reached
    raises `chiffon.errors.DependencyUnavailable`.
    """

    async def create(
        self, task: Task, event: EventDraft, outbox: Sequence[OutboxMessage]
    ) -> tuple[Task, bool]:
        """Store `task` (revision 1), its first timeline entry and its outbox messages in one
        unit of work.

        If a task with the same task_id exists, or else one with the same request_id,
        nothing is stored and `(existing, False)` is returned (its task_id tells the two
        apart); otherwise `(task, True)`. One task's failure never fails another's create.
        """
        ...

    async def get(self, task_id: UUID) -> Task | None:
        """The task, or None."""
        ...

    async def apply(
        self,
        task_id: UUID,
        revision: int,
        patch: TaskPatch,
        event: EventDraft,
        outbox: Sequence[OutboxMessage] = (),
    ) -> Task | None:
        """A change decided from the task at `revision`: if the stored task is still at it,
        set the fields of `patch`, add one to its revision, append `event` to its timeline
        with that revision, and store `outbox`, all in one unit of work; when the task
        becomes final or moves to its next attempt, its unsent work messages are dropped in
        the same unit. Return the task as stored. Otherwise change nothing and return None
        (so two writers can never both move a task, nor move it backwards)."""
        ...

    async def apply_report(
        self,
        task_id: UUID,
        guard: ReportGuard,
        patch: TaskPatch,
        event: EventDraft,
        then: EventDraft | None = None,
    ) -> Task | None:
        """An agent's report, decided without reading the task: as `apply`, but under
        `guard` instead of a revision, and with no outbox. Reports that arrive together may
        be written together (each keeps its own guard and answer). `then`: the timeline
        entry of a second report applied in the same write (an attempt's `running` and its
        result, arrived together): `event` takes revision + 1, `then` revision + 2, and the
        task is stored at revision + 2."""
        ...

    async def enqueue(self, outbox: Sequence[OutboxMessage]) -> None:
        """Store outbox messages on their own."""
        ...

    async def reconcile_waiting(
        self, agent_type: str, due_reason: WaitingReason, now: datetime, limit: int = 500
    ) -> list[Task]:
        """Bring the waiting reasons of `agent_type`'s pending tasks up to date, as one
        atomic step: a task whose next_attempt_at is after `now` waits `scheduled` (its first
        attempt) or `retry_backoff` (a later one) until then; any other waits `due_reason`.
        Only tasks whose reason or until changes are written (revision + 1, a `waiting`
        timeline entry with waiting_reason, waiting_until and updated_at), at most `limit`,
        oldest first (a large backlog catches up over the next calls, so one call's work and
        the pushes it causes stay bounded); returns them."""
        ...

    async def next_waiting(self, key: str, now: datetime) -> Task | None:
        """The task that gets the next slot of concurrency key `key`: of the pending tasks
        of that key not yet admitted and due (next_attempt_at null or at most `now`), the
        highest priority, then the oldest (created_at, task_id). None if there is none."""
        ...

    async def waiting_keys(self, now: datetime, limit: int = 500) -> list[str]:
        """Concurrency keys that have a due task waiting for a slot and may have a slot for it:
        fewer held than the largest `concurrency_max_running` among the key's waiting tasks
        (at most `limit`, in key order)."""
        ...

    async def admit(
        self, task: Task, patch: TaskPatch, event: EventDraft, outbox: Sequence[OutboxMessage]
    ) -> Admission:
        """Give `task` (as read: its revision is required) a slot of its concurrency key, if
        fewer than its `concurrency_max_running` tasks of that key hold one (see
        chiffon.concurrency.holds_slot): then apply `patch` (with `admitted_at`), `event` and
        `outbox` as `apply` does. One unit of work, serialised with every other admission of
        the key across replicas, so the count of slots held never passes the limit. Slots
        are never released explicitly: a task stops holding one as its row changes."""
        ...


class TaskQueries(Protocol):
    """What the API, the scheduler and the history checker read.

    Implementations return copies, never live objects; a store that cannot be reached
    raises `chiffon.errors.DependencyUnavailable`.
    """

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

    async def events(self, task_id: UUID, after: int = 0, limit: int = 1000) -> list[TaskEvent]:
        """The task's timeline entries with a revision above `after`, in revision order, at
        most `limit` ([] for an unknown task). Their changes are JSON values."""
        ...

    async def timelines(self, task_ids: Sequence[UUID]) -> dict[UUID, list[TaskEvent]]:
        """The whole timelines of these tasks (for the history checker), each in revision
        order; a task unknown to the store is left out. Callers keep `task_ids` to a page."""
        ...

    async def activity(self, span: Span) -> Activity:
        """What happened to the stored tasks over `span`, by interval (see Activity): tasks
        created, first started (or finished unstarted), finished by status with the p50/p95
        of their duration_ms, and the pending tasks per agent type now. Cost grows with the
        tasks created or finished in the span (docs/performance.md)."""
        ...

    async def counts(self) -> StoreCounts:
        """How many tasks are in each status (every status present, zero included), and how
        many outbox messages wait to be sent; for gauges, read rarely (it may scan)."""
        ...


class OutboxStore(Protocol):
    """The relay's side of the transactional outbox.

    Implementations return copies, never live objects; a store that cannot be reached
    raises `chiffon.errors.DependencyUnavailable`.
    """

    async def relay_outbox(
        self,
        publish: Publish,
        limit: int,
        created_before: datetime | None = None,
        due_by: datetime | None = None,
    ) -> int:
        """Claim up to `limit` unsent outbox messages, oldest first, skipping ones another
        relay holds: those without `not_before` created before `created_before` (None: all of
        them), and those with `not_before` at or before `due_by` (None: none of them). Call
        `publish` with them; mark them sent in the same unit of work. If `publish` raises,
        none is marked (but the `confirmed` ones of a PartiallyPublished) and the error
        propagates. Returns how many were sent."""
        ...

    async def mark_sent(self, message_ids: Sequence[UUID]) -> None:
        """Mark these outbox messages sent (the relay published them itself): they are never
        published again (a store may delete them)."""
        ...

    async def pending_without_work(self, limit: int = 500) -> list[Task]:
        """Pending tasks with no unsent work message in the outbox (their work was sent),
        oldest first, at most `limit`; a task waiting for a concurrency slot is not one of
        them (it has no work yet)."""
        ...


class SweepQueries(Protocol):
    """What the sweeper, the lease keeper and retention look for and clean up.

    Implementations return copies, never live objects; a store that cannot be reached
    raises `chiffon.errors.DependencyUnavailable`.
    """

    async def due_for_timeout(self, now: datetime, limit: int = 500) -> list[Task]:
        """Pending or running tasks whose deadline_at <= now, oldest deadline first."""
        ...

    async def orphaned(
        self, live: Collection[UUID], started_before: datetime, limit: int = 500
    ) -> list[Task]:
        """Tasks held by an agent not in `live` whose attempt started before `started_before`:
        `running`, or `cancelled` and awaiting that agent's answer (cancel_outcome requested);
        oldest start first, at most `limit`."""
        ...

    async def running_on(self, agent_id: UUID) -> list[Task]:
        """Tasks in `running` whose current attempt is held by `agent_id`."""
        ...

    async def awaiting_cancel(self, agent_id: UUID) -> list[Task]:
        """Cancelled tasks whose agent `agent_id` has not yet said how the cancel ended."""
        ...

    async def delete_finished(self, before: datetime, limit: int) -> int:
        """Delete up to `limit` tasks that reached a final state before `before`, oldest
        first, with their timelines and outbox rows; returns how many (0 also when another
        replica is deleting right now). Holds no lock another writer waits on for long."""
        ...


class StoreHealth(Protocol):
    """What /ready asks.

    Implementations return copies, never live objects; a store that cannot be reached
    raises `chiffon.errors.DependencyUnavailable`.
    """

    async def ping(self) -> None:
        """Return if the store answers; raise DependencyUnavailable otherwise."""
        ...


class TaskRepository(LedgerStore, TaskQueries, OutboxStore, SweepQueries, StoreHealth, Protocol):
    """Tasks and the outbox, whole: what a store adapter implements. Each service takes only
    the narrow port it uses (above), so a fake for one is a screen of code."""
