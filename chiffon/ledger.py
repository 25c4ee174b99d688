"""The ledger: the one place a task is created or changed.

Every change goes the same way: take the task's place in the per-task order, decide what the
change makes of the task (chiffon.changes, against the lifecycle table), write it conditionally
on what it was decided from, with its timeline entry and outbox messages in the same unit of
work, then announce it and wake the relay. A write that loses a race re-reads the task and
decides again, here and nowhere else.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Final
from uuid import UUID

import attrs

from chiffon import changes as c
from chiffon.admission import Admissions
from chiffon.attempt_holder import Report
from chiffon.concurrency import released, waits_for_slot
from chiffon.decider import Decider
from chiffon.events import TaskChanged
from chiffon.fresh_outbox import FreshOutbox
from chiffon.keyed_lock import KeyedLock
from chiffon.messages import OutboxFactory
from chiffon.model import (
    Agent,
    ChangeKind,
    OutboxMessage,
    Task,
    TaskAnnouncement,
    WaitingReason,
)
from chiffon.refused_reports import RecordedRefusals
from ports.notifier import Notifier
from ports.observer import ChangeObserver
from ports.task_repository import LedgerStore

log = logging.getLogger(__name__)

MAX_RACES: Final = 20  # re-decisions after lost races before giving up (never seen in tests)
UNREAD_JITTER: Final = 0.5  # unused: a change written unread never schedules a next attempt


@attrs.frozen
class Applied:
    task: Task


@attrs.frozen
class Ignored:
    """The change did not apply: `task` is how it stands (None: no such task). `foreign`:
    an agent's report refused because that agent does not hold the attempt."""

    task: Task | None
    reason: str
    foreign: bool = False
    recorded: bool = False  # foreign, and the first of its kind: now in the timeline


Outcome = Applied | Ignored


class TaskLedger:
    def __init__(
        self,
        tasks: LedgerStore,
        decider: Decider,
        outbox: OutboxFactory,
        fresh: FreshOutbox,
        notifier: Notifier,
        observer: ChangeObserver,
    ) -> None:
        self._tasks = tasks
        self._decider = decider
        self._outbox = outbox
        self._fresh = fresh
        self._notifier = notifier
        self._observer = observer
        self._order = KeyedLock()  # one task's changes, one after the other
        self._recorded = RecordedRefusals()
        self.admissions = Admissions(tasks, decider, outbox, self._order, fresh)

    def due(self, agent_type: str) -> WaitingReason:
        """What a due pending task of `agent_type` waits for now: what a new task of that type
        waits for, if its first attempt is due."""
        return self._decider.due(agent_type)

    async def create(self, task: Task) -> tuple[Task, bool]:
        """Store a new task with its first timeline entry, its announcement and its work (the
        relay sends them in that order, so `pending` is heard before anything it causes).
        Returns (stored task, created): an existing task_id stores nothing. A task waiting
        for a concurrency slot is stored without its work: admission sends it."""
        held = waits_for_slot(task)
        kind = ChangeKind.DISPATCHED
        announced = self._outbox.announce(task, kind)
        messages = [announced] if held else [announced, self._outbox.work(task)]
        stored, created = await self._tasks.create(task, c.dispatched(task), messages)
        if created:
            self._fresh.submit(messages)
            if held and task.concurrency_key is not None:
                await self.admissions.after_change(task.concurrency_key)
        return stored, created

    async def apply(self, task_id: UUID, change: c.Change, known: Task | None = None) -> Outcome:
        """Apply `change` to the task, in the task's order. `known` is the task as the caller
        just read it (saves a read; a stale copy only costs a re-decision). A change that
        frees a concurrency slot admits the next task waiting for one."""
        outcome = await self._apply(task_id, change, known)
        if isinstance(outcome, Applied) and released(outcome.task):
            assert outcome.task.concurrency_key is not None
            await self.admissions.after_change(outcome.task.concurrency_key)
        return outcome

    async def _apply(self, task_id: UUID, change: c.Change, known: Task | None) -> Outcome:
        async with self._order.hold(task_id):
            if known is None:
                stored = await self._write_unread(task_id, change)
                if stored is not None:
                    return await self._announce(change, stored, False, [])
            return await self._decide_and_write(task_id, change, known)

    async def refresh_waiting(self, agents: Sequence[Agent], agent_types: Iterable[str]) -> None:
        """With the agents as the registry has them now, bring the waiting reasons of the
        pending tasks of every type they say something about up to date (`agent_types` and
        the agents' own types)."""
        for agent_type in self._decider.agents_seen(agents, agent_types):
            await self.reconcile_waiting(agent_type)

    async def apply_together(self, task_id: UUID, first: c.Change, then: c.Change) -> Task | None:
        """Two reports of one attempt that arrived together (its `running` and a completed
        result), in ONE write: each keeps its own timeline entry (`first` at revision + 1,
        `then` at + 2), both fields land at once, and one announcement says how the task
        ended (its `started` flag: the same write started it). Only unread, under `first`'s
        guard: `then`'s holds by construction once `first` applied. None: nothing written
        (a change needs a read, or the guard did not hold); apply them one by one. Like
        `apply`, an end that frees a concurrency slot admits the next task waiting for one."""
        stored = await self._apply_together(task_id, first, then)
        if stored is not None and released(stored):
            assert stored.concurrency_key is not None
            await self.admissions.after_change(stored.concurrency_key)
        return stored

    async def _apply_together(self, task_id: UUID, first: c.Change, then: c.Change) -> Task | None:
        async with self._order.hold(task_id):
            now = self._decider.now()
            guard = first.unread(now)
            if guard is None or then.unread(now) is None:
                return None
            started = first.patch(None, now, UNREAD_JITTER)
            ended = then.patch(None, now, UNREAD_JITTER)
            entries = c.draft(first, started, now), c.draft(then, ended, now)
            stored = await self._tasks.apply_report(task_id, guard, started | ended, *entries)
            if stored is not None:
                await self._notifier.publish(TaskChanged(then.kind, stored, started=True))
            return stored

    async def reconcile_waiting(self, agent_type: str) -> int:
        """Bring the waiting reasons of the type's pending tasks up to date (see
        LedgerStore.reconcile_waiting) and announce each that changed."""
        due = self._decider.due(agent_type)
        changed = await self._tasks.reconcile_waiting(agent_type, due, self._decider.now())
        for task in changed:
            await self._notifier.publish(TaskChanged(ChangeKind.WAITING, task))
        return len(changed)

    async def send(self, messages: list[OutboxMessage]) -> None:
        """Outbox messages that change no task (a cancel repeated to an agent)."""
        await self._tasks.enqueue(messages)
        self._fresh.submit(messages)

    async def stop(
        self, task: Task, reason: str, agent_id: UUID | None = None, attempt: int | None = None
    ) -> None:
        """Tell the agent running `task` to stop (again), or only `agent_id`'s run of
        `attempt`; the task does not change."""
        await self.send([self._outbox.cancel(task, reason, agent_id, attempt)])

    async def resend_work(self, tasks: Sequence[Task]) -> None:
        """The work of these tasks' current attempts, once more (a bus lost it)."""
        await self.send([self._outbox.work(task) for task in tasks])

    async def announce(self, told: Sequence[TaskAnnouncement]) -> None:
        """Announce the changes that caused work, which the relay sends right after: flushed
        first, so every replica hears `pending` before anything it causes."""
        for announcement in told:
            await self._notifier.publish(TaskChanged(announcement.change, announcement.task))
        await self._notifier.flush()

    async def _write_unread(self, task_id: UUID, change: c.Change) -> Task | None:
        """An agent's report changes the same fields whatever the task holds: one conditional
        write under the guard the change states, with no read first (the common case). None:
        the change needs a read, or its guard did not hold; it is decided after a read (and
        maybe refused)."""
        now = self._decider.now()
        guard = change.unread(now)
        if guard is None:
            return None
        patch = change.patch(None, now, UNREAD_JITTER)
        event = c.draft(change, patch, now)
        return await self._tasks.apply_report(task_id, guard, patch, event)

    async def _decide_and_write(
        self, task_id: UUID, change: c.Change, known: Task | None
    ) -> Outcome:
        task = known if known is not None else await self._tasks.get(task_id)
        for _ in range(MAX_RACES):
            if task is None:
                return self._ignored(None, change, "no such task")
            before = change.prerequisite(task)
            step = before or change.replacement(task) or change
            decision = self._decider.decide(task, step)
            if isinstance(decision, c.Refused):
                if decision.foreign is None:
                    return self._ignored(task, change, decision.reason)
                recorded = await self._refuse(task, decision.foreign, decision.reason)
                if recorded is None:
                    task = await self._tasks.get(task_id)  # lost a race: decide again
                    continue
                return recorded
            messages = self._messages(step, decision, task)
            stored = await self._tasks.apply(
                task_id, task.revision, decision.patch, decision.event, messages
            )
            if stored is None:
                task = await self._tasks.get(task_id)  # lost a race: look again, decide again
                continue
            outcome = await self._announce(step, stored, decision.causes_work, messages)
            if before is None:
                return outcome
            task = stored  # the prerequisite is in: now the change itself
        raise RuntimeError(f"task {task_id}: {MAX_RACES} concurrent changes in a row")

    def _messages(
        self, change: c.Change, decision: c.Accepted, before: Task
    ) -> list[OutboxMessage]:
        if decision.causes_work:
            return self._outbox.work_announced(decision.task, change.kind)
        reason = change.stop_reason(before)
        if reason is not None:
            return [self._outbox.cancel(decision.task, reason)]
        return []

    async def _announce(
        self, change: c.Change, stored: Task, causes_work: bool, messages: list[OutboxMessage]
    ) -> Applied:
        if not causes_work:  # else the relay announces it, ahead of the work
            await self._notifier.publish(TaskChanged(change.kind, stored))
        self._fresh.submit(messages)
        return Applied(stored)

    async def _refuse(self, task: Task, report: Report, reason: str) -> Ignored | None:
        """Count and log a report from an agent that does not hold the attempt; record it in
        the task's timeline (the first of its kind from that agent and attempt). None: the
        task changed meanwhile (decided again, and counted then)."""
        outcome = Ignored(task, reason, foreign=True)
        if self._recorded.first(task.task_id, report):
            entry = c.refused(task, report, reason, self._decider.now())
            stored = await self._tasks.apply(task.task_id, task.revision, entry.patch, entry.event)
            if stored is None:
                self._recorded.forget(task.task_id, report)
                return None
            await self._notifier.publish(TaskChanged(ChangeKind.REPORT_REFUSED, stored))
            outcome = Ignored(stored, reason, foreign=True, recorded=True)
        self._observer.report_refused(report.kind)
        fields = {"task_id": str(task.task_id), "agent_id": str(report.agent_id)}
        log.warning(
            "refused %s of attempt %d: %s", report.kind, report.attempt, reason, extra=fields
        )
        return outcome

    def _ignored(self, task: Task | None, change: c.Change, reason: str) -> Ignored:
        self._observer.ignored(change.kind)
        fields = {"task_id": str(task.task_id)} if task is not None else {}
        log.info("ignored %s: %s", change.kind, reason, extra=fields)
        return Ignored(task, reason)
