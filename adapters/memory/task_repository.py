"""Driven adapter: task storage and outbox in process memory (same contract as PostgreSQL)."""

from __future__ import annotations

import bisect
import json
import operator
from collections import OrderedDict
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, Final
from uuid import UUID

import attrs

from adapters.memory.concurrency_slots import SlotIndex
from adapters.memory.task_activity import activity_of
from chiffon.concurrency import waits_for_slot
from chiffon.json_values import json_fields
from chiffon.lifecycle import ACTIVE, TERMINAL
from chiffon.model import (
    CancelOutcome,
    ChangeKind,
    EventDraft,
    OutboxMessage,
    Task,
    TaskAnnouncement,
    TaskEvent,
    TaskStatus,
    WaitingReason,
    WorkRequest,
)
from chiffon.patch import ReportGuard, TaskPatch
from chiffon.stats import Activity, Span
from chiffon.waiting import reason_for
from ports.bus import PartiallyPublished
from ports.task_repository import (
    Admission,
    PageCursor,
    Publish,
    StoreCounts,
    TaskFilter,
    TaskPage,
    TaskRepository,
)

DEFAULT_MAX_FINISHED = 10_000


class InMemoryTaskRepository(TaskRepository):
    """Every method runs without an await inside its critical section, so each is atomic on
    the event loop exactly like one SQL statement or transaction is in PostgreSQL."""

    def __init__(self, max_finished: int = DEFAULT_MAX_FINISHED) -> None:
        """`max_finished`: finished tasks kept at most (oldest out), so a long-running demo
        stops growing; PostgreSQL keeps them until retention deletes them."""
        self._max_finished = max_finished
        self._finished: OrderedDict[UUID, datetime] = OrderedDict()  # in the order they ended
        self._tasks: dict[UUID, Task] = {}
        self._by_request: dict[UUID, UUID] = {}  # request_id -> task_id (unique, as in SQL)
        self._order: list[tuple[datetime, UUID]] = []  # ascending (created_at, task_id)
        # Indexes, so that no sweep or write scans every task or every outbox row:
        self._active: dict[str, set[UUID]] = {}  # agent_type -> its pending and running tasks
        self._deadlines: set[UUID] = set()  # active tasks with a deadline
        # What reconcile_waiting must look at when the type's due reason is the one it last
        # settled: tasks written since, and those whose reason changes with time. The rest
        # still hold what it settled (a sweep no longer scans every pending task each second).
        self._settled: dict[str, WaitingReason] = {}  # agent_type -> due reason last settled
        self._unsettled: dict[str, set[UUID]] = {}  # agent_type -> active, written since
        self._timed: dict[str, set[UUID]] = {}  # agent_type -> active, with a next_attempt_at
        self._held: set[UUID] = set()  # tasks an agent holds: running, or a cancel it owes
        self._events: dict[UUID, list[TaskEvent]] = {}
        self._outbox: OrderedDict[UUID, OutboxMessage] = OrderedDict()
        self._claimed: set[UUID] = set()
        self._outbox_of: dict[UUID, set[UUID]] = {}  # task_id -> its unsent message ids
        self._slots = SlotIndex()  # concurrency keys: who holds a slot, who waits for one

    async def create(
        self, task: Task, event: EventDraft, outbox: Sequence[OutboxMessage]
    ) -> tuple[Task, bool]:
        existing = self._tasks.get(task.task_id)
        if existing is None and task.request_id in self._by_request:
            existing = self._tasks[self._by_request[task.request_id]]
        if existing is not None:
            return _copy(existing), False
        stored = _replace(
            task, revision=1, parameters=_clone(task.parameters), result=_clone(task.result)
        )
        self._tasks[task.task_id] = stored
        self._by_request[task.request_id] = task.task_id
        self._events[task.task_id] = [event.numbered(task.task_id, 1)]
        bisect.insort(self._order, (task.created_at, task.task_id))
        self._keep(stored, outbox)
        # A task created is the task as given (as the PostgreSQL store answers): the caller's
        # own object shares nothing with the one stored, so it needs no copy.
        return (task if task.revision == 1 else _copy(stored)), True

    async def get(self, task_id: UUID) -> Task | None:
        task = self._tasks.get(task_id)
        return None if task is None else _copy(task)

    async def page(
        self, flt: TaskFilter, limit: int, after: PageCursor | None, *, light: bool = False
    ) -> TaskPage:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        end = len(self._order)
        if after is not None:
            end = bisect.bisect_left(self._order, (after.created_at, after.task_id))
        items: list[Task] = []
        for index in range(end - 1, -1, -1):
            task = self._tasks[self._order[index][1]]
            if _matches(task, flt):
                if len(items) == limit:
                    last = items[-1]
                    return TaskPage(tuple(items), PageCursor(last.created_at, last.task_id))
                items.append(_light(task) if light else _copy(task))
        return TaskPage(tuple(items), None)

    async def apply(
        self,
        task_id: UUID,
        revision: int,
        patch: TaskPatch,
        event: EventDraft,
        outbox: Sequence[OutboxMessage] = (),
    ) -> Task | None:
        task = self._tasks.get(task_id)
        if task is None or task.revision != revision:
            return None
        return self._write(task, patch, event, outbox)

    async def apply_report(
        self,
        task_id: UUID,
        guard: ReportGuard,
        patch: TaskPatch,
        event: EventDraft,
        then: EventDraft | None = None,
    ) -> Task | None:
        task = self._tasks.get(task_id)
        if task is None or not guard.matches(task):
            return None
        return self._write(task, patch, event, (), then)

    def _write(
        self,
        task: Task,
        patch: TaskPatch,
        event: EventDraft,
        outbox: Sequence[OutboxMessage],
        then: EventDraft | None = None,
    ) -> Task:
        entries = (event,) if then is None else (event, then)
        revision = task.revision + len(entries)
        values = {k: _clone(v) for k, v in patch.values().items()}
        changed = _replace(task, revision=revision, **values)
        for n, entry in enumerate(entries, task.revision + 1):
            self._events[task.task_id].append(entry.numbered(task.task_id, n))
        if changed.status in TERMINAL or changed.attempt != task.attempt:
            self._drop_work(task.task_id)
        return self._store(changed, outbox)

    def _drop_work(self, task_id: UUID) -> None:
        """A final task, or one at its next attempt, needs none of the work that was waiting
        for its time (as on PostgreSQL)."""
        for message_id in list(self._outbox_of.get(task_id, ())):
            work = isinstance(self._outbox[message_id].payload, WorkRequest)
            if work and message_id not in self._claimed:
                self._pop_outbox(message_id)

    async def events(self, task_id: UUID, after: int = 0, limit: int = 1000) -> list[TaskEvent]:
        timeline = self._events.get(task_id, [])  # revisions 1, 2, 3... without gaps
        start = max(0, after)
        return [attrs.evolve(e, changes=_clone(e.changes)) for e in timeline[start : start + limit]]

    async def timelines(self, task_ids: Sequence[UUID]) -> dict[UUID, list[TaskEvent]]:
        return {
            task_id: [attrs.evolve(e, changes=_clone(e.changes)) for e in self._events[task_id]]
            for task_id in task_ids
            if task_id in self._events
        }

    async def due_for_timeout(self, now: datetime, limit: int = 500) -> list[Task]:
        due = [
            t
            for t in (self._tasks[i] for i in self._deadlines)
            if t.deadline_at is not None and t.deadline_at <= now
        ]
        due.sort(key=lambda t: (t.deadline_at, t.task_id))
        return [_copy(t) for t in due[:limit]]

    async def awaiting_cancel(self, agent_id: UUID) -> list[Task]:
        return [
            _copy(t)
            for t in (self._tasks[i] for i in self._held)
            if t.cancel_outcome is CancelOutcome.REQUESTED and t.agent_id == agent_id
        ]

    async def reconcile_waiting(
        self, agent_type: str, due_reason: WaitingReason, now: datetime, limit: int = 500
    ) -> list[Task]:
        active = self._active.get(agent_type, set())
        written = self._unsettled.pop(agent_type, set())
        if self._settled.get(agent_type) is due_reason:
            candidates = (written | self._timed.get(agent_type, set())) & active
        else:
            candidates = set(active)
        self._settled[agent_type] = due_reason
        stale = []
        for task_id in candidates:
            task = self._tasks[task_id]
            reason, until = reason_for(task, due_reason, now)
            if (reason, until) != (task.waiting_reason, task.waiting_until):
                stale.append((task.created_at, task_id, task, reason, until))
        stale.sort(key=lambda s: (s[0], s[1]))  # oldest first, as on PostgreSQL
        for _, task_id, *_ in stale[limit:]:  # beyond the limit: looked at next time
            self._unsettled.setdefault(agent_type, set()).add(task_id)
        changed = []
        for _, task_id, task, reason, until in stale[:limit]:
            patch = TaskPatch(waiting_reason=reason, waiting_until=until, updated_at=now)
            note = EventDraft(ChangeKind.WAITING, now, task.status, json_fields(patch.values()))
            moved = await self.apply(task_id, task.revision, patch, note)
            if moved is not None:
                changed.append(moved)
        return changed

    async def running_on(self, agent_id: UUID) -> list[Task]:
        return [
            _copy(t)
            for ids in self._active.values()
            for t in (self._tasks[i] for i in ids)
            if t.status is TaskStatus.RUNNING and t.agent_id == agent_id
        ]

    async def orphaned(
        self, live: Collection[UUID], started_before: datetime, limit: int = 500
    ) -> list[Task]:
        held = [
            t
            for t in (self._tasks[i] for i in self._held)
            if t.agent_id not in live and t.started_at is not None and t.started_at < started_before
        ]
        held.sort(key=lambda t: (t.started_at, t.task_id))
        return [_copy(t) for t in held[:limit]]

    async def pending_without_work(self, limit: int = 500) -> list[Task]:
        def has_work(task_id: UUID) -> bool:
            mine = self._outbox_of.get(task_id, ())
            return any(isinstance(self._outbox[m].payload, WorkRequest) for m in mine)

        pending = [
            t
            for ids in self._active.values()
            for t in (self._tasks[i] for i in ids)
            if t.status is TaskStatus.PENDING and not has_work(t.task_id) and not waits_for_slot(t)
        ]
        pending.sort(key=lambda t: (t.created_at, t.task_id))
        return [_copy(t) for t in pending[:limit]]

    async def next_waiting(self, key: str, now: datetime) -> Task | None:
        due = [
            t
            for t in (self._tasks[i] for i in self._slots.waiting(key))
            if t.next_attempt_at is None or t.next_attempt_at <= now
        ]
        if not due:
            return None
        return _copy(min(due, key=lambda t: (-t.priority, t.created_at, t.task_id)))

    async def waiting_keys(self, now: datetime, limit: int = 500) -> list[str]:
        found = []
        for key in self._slots.waiting_keys():
            due = [
                t
                for t in (self._tasks[i] for i in self._slots.waiting(key))
                if t.next_attempt_at is None or t.next_attempt_at <= now
            ]
            if due and self._slots.held(key) < max(t.concurrency_max_running or 1 for t in due):
                found.append(key)
        return found[:limit]

    async def admit(
        self,
        task: Task,
        patch: TaskPatch,
        event: EventDraft,
        outbox: Sequence[OutboxMessage],
    ) -> Admission:
        key = task.concurrency_key
        if key is None:
            raise ValueError("only a task with a concurrency key is admitted")
        if self._slots.held(key) >= (task.concurrency_max_running or 1):
            return Admission(None, full=True)
        current = self._tasks.get(task.task_id)
        if current is None or not waits_for_slot(current):
            return Admission(None)
        return Admission(await self.apply(task.task_id, task.revision, patch, event, outbox))

    async def enqueue(self, outbox: Sequence[OutboxMessage]) -> None:
        self._add_outbox(outbox)

    async def relay_outbox(
        self,
        publish: Publish,
        limit: int,
        created_before: datetime | None = None,
        due_by: datetime | None = None,
    ) -> int:
        batch = [
            m
            for i, m in self._outbox.items()
            if i not in self._claimed and _claimable(m, created_before, due_by)
        ][:limit]
        if not batch:
            return 0
        ids = [m.message_id for m in batch]
        self._claimed.update(ids)  # like FOR UPDATE SKIP LOCKED: a second relay skips them
        try:
            await publish(batch)
        except PartiallyPublished as exc:  # keep what got out; the rest goes again
            for message_id in exc.confirmed:
                self._pop_outbox(message_id)
            raise
        finally:
            self._claimed.difference_update(ids)
        for message_id in ids:
            self._pop_outbox(message_id)
        return len(batch)

    async def mark_sent(self, message_ids: Sequence[UUID]) -> None:
        for message_id in message_ids:
            self._pop_outbox(message_id)

    async def activity(self, span: Span) -> Activity:
        return activity_of(list(self._tasks.values()), span)

    async def counts(self) -> StoreCounts:
        by_status = dict.fromkeys(TaskStatus, 0)
        for task in self._tasks.values():
            by_status[task.status] += 1
        return StoreCounts(by_status, len(self._outbox))

    async def ping(self) -> None:
        return None

    def unsent(self) -> list[OutboxMessage]:
        """What the relay has not sent yet (for tests and the demo's diagnostics)."""
        return list(self._outbox.values())

    def _store(self, task: Task, outbox: Sequence[OutboxMessage]) -> Task:
        """Keep `task` (and its outbox messages); a copy of it for the caller."""
        self._keep(task, outbox)
        return _copy(task)

    def _keep(self, task: Task, outbox: Sequence[OutboxMessage]) -> None:
        self._tasks[task.task_id] = task
        self._slots.track(task)
        if _held(task):
            self._held.add(task.task_id)
        else:
            self._held.discard(task.task_id)
        if task.status in ACTIVE:
            self._active.setdefault(task.agent_type, set()).add(task.task_id)
            self._unsettled.setdefault(task.agent_type, set()).add(task.task_id)
            timed = self._timed.setdefault(task.agent_type, set())
            if task.next_attempt_at is not None:
                timed.add(task.task_id)
            else:
                timed.discard(task.task_id)
            if task.deadline_at is not None:
                self._deadlines.add(task.task_id)
            else:
                self._deadlines.discard(task.task_id)
        else:
            self._forget_active(task)
        self._add_outbox(outbox)
        if task.status in TERMINAL and task.task_id not in self._finished:
            self._finished[task.task_id] = task.finished_at or task.updated_at
            while len(self._finished) > self._max_finished:
                self._delete(next(iter(self._finished)))

    async def delete_finished(self, before: datetime, limit: int) -> int:
        gone = 0
        for task_id, ended in list(self._finished.items()):
            if gone >= limit or ended >= before:
                break  # in the order they ended: the rest ended later
            self._delete(task_id)
            gone += 1
        return gone

    def _delete(self, task_id: UUID) -> None:
        task = self._tasks.pop(task_id)
        self._held.discard(task_id)
        self._by_request.pop(task.request_id, None)
        self._finished.pop(task_id, None)
        self._events.pop(task_id, None)
        self._forget_active(task)
        self._slots.forget(task)
        index = bisect.bisect_left(self._order, (task.created_at, task_id))
        del self._order[index]
        for message_id in list(self._outbox_of.get(task_id, ())):
            if message_id not in self._claimed:
                self._pop_outbox(message_id)

    def _forget_active(self, task: Task) -> None:
        self._active.get(task.agent_type, set()).discard(task.task_id)
        self._unsettled.get(task.agent_type, set()).discard(task.task_id)
        self._timed.get(task.agent_type, set()).discard(task.task_id)
        self._deadlines.discard(task.task_id)

    def _add_outbox(self, outbox: Sequence[OutboxMessage]) -> None:
        for message in outbox:  # idempotent on message_id, like the PostgreSQL outbox
            self._outbox.setdefault(message.message_id, message)  # frozen; encoded on publish
            task_id = _task_of(message)
            if task_id is not None:
                self._outbox_of.setdefault(task_id, set()).add(message.message_id)

    def _pop_outbox(self, message_id: UUID) -> None:
        message = self._outbox.pop(message_id, None)
        task_id = None if message is None else _task_of(message)
        if task_id is None:
            return
        mine = self._outbox_of.get(task_id)
        if mine is not None:
            mine.discard(message_id)
            if not mine:
                del self._outbox_of[task_id]


def _held(task: Task) -> bool:
    """An agent holds the task: it runs it, or owes the answer to a cancel of its run."""
    holding = task.status is TaskStatus.RUNNING or task.cancel_outcome is CancelOutcome.REQUESTED
    return holding and task.agent_id is not None


def _task_of(message: OutboxMessage) -> UUID | None:
    payload = message.payload
    if isinstance(payload, TaskAnnouncement):
        return payload.task.task_id
    return payload.task_id


def _claimable(
    message: OutboxMessage, created_before: datetime | None, due_by: datetime | None
) -> bool:
    if message.not_before is None:
        return created_before is None or message.created_at < created_before
    return due_by is not None and message.not_before <= due_by


def _matches(task: Task, flt: TaskFilter) -> bool:
    return (
        (flt.status is None or task.status is flt.status)
        and (flt.waiting_reason is None or task.waiting_reason is flt.waiting_reason)
        and (flt.work_type is None or task.work_type == flt.work_type)
        and (flt.agent_type is None or task.agent_type == flt.agent_type)
        and (flt.trace_id is None or task.trace_id == flt.trace_id)
        and (flt.id_prefix is None or task.task_id.hex.startswith(flt.id_prefix))
        and (flt.agent_id is None or task.agent_id == flt.agent_id)
        and (flt.schedule_id is None or task.schedule_id == flt.schedule_id)
        and (flt.concurrency_key is None or task.concurrency_key == flt.concurrency_key)
        and (flt.created_after is None or task.created_at >= flt.created_after)
        and (flt.created_before is None or task.created_at < flt.created_before)
        and (flt.text is None or _mentions(task, flt.text.lower()))
    )


def _mentions(task: Task, text: str) -> bool:
    """Like PostgreSQL's ILIKE over parameters::text, result::text and error_message."""
    texts = (_json_text(task.parameters), _json_text(task.result), task.error_message or "")
    return any(text in t.lower() for t in texts)


def _copy(task: Task) -> Task:
    """A copy that shares nothing mutable with the stored task (cheaper than deepcopy: the
    task is frozen, only its JSON values can change)."""
    return _replace(task, parameters=_clone(task.parameters), result=_clone(task.result))


def _light(task: Task) -> Task:
    return _replace(task, parameters={}, result=None, output=None)


# Every copy of a task goes through here: its fields read at once and passed by position
# (attrs.evolve looks each field up by name, twice as slow, and the store copies a task
# on every read and write).
_FIELDS: Final = tuple(a.name for a in attrs.fields(Task))
assert all(a.init and a.alias == a.name for a in attrs.fields(Task))
_INDEX: Final = {name: i for i, name in enumerate(_FIELDS)}
_values = operator.attrgetter(*_FIELDS)


def _replace(task: Task, **changes: Any) -> Task:
    values = list(_values(task))
    for name, value in changes.items():
        values[_INDEX[name]] = value
    return Task(*values)


def _clone(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clone(v) for v in value]
    return value


def _json_text(value: Any) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False)
