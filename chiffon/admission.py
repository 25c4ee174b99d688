"""Admission: tasks waiting for a slot of their concurrency key get one, in priority order."""

from __future__ import annotations

import logging
from typing import Final

import attrs

from chiffon.concurrency import admission
from chiffon.decider import Decider
from chiffon.errors import DependencyUnavailable
from chiffon.fresh_outbox import FreshOutbox
from chiffon.json_values import json_fields
from chiffon.keyed_lock import KeyedLock
from chiffon.log_fields import task_fields
from chiffon.messages import OutboxFactory
from chiffon.model import ChangeKind, EventDraft, TaskStatus
from ports.task_repository import LedgerStore

log = logging.getLogger(__name__)

MAX_PER_CALL: Final = 1000  # admissions per call; the sweeper's next round takes the rest


class Admissions:
    """Admits the waiting tasks of a key while its slots allow: each admission is one
    conditional unit of work in the store (the slot, the task's new state, its announcement
    and its work), so replicas admitting the same key at once never pass the limit. Called
    when a keyed task is dispatched, when one releases its slot, and by every sweep (which
    catches what a crash between a release and the next admission left)."""

    def __init__(
        self,
        tasks: LedgerStore,
        decider: Decider,
        outbox: OutboxFactory,
        order: KeyedLock,
        fresh: FreshOutbox,
    ) -> None:
        self._tasks = tasks
        self._decider = decider
        self._outbox = outbox
        self._order = order
        self._fresh = fresh

    async def admit(self, key: str) -> int:
        """Admit what `key`'s free slots allow, highest priority first; returns how many."""
        admitted = 0
        while admitted < MAX_PER_CALL:
            now = self._decider.now()
            task = await self._tasks.next_waiting(key, now)
            if task is None:
                break
            async with self._order.hold(task.task_id):
                patch = admission(task, now, self._decider.due(task.agent_type))
                after = attrs.evolve(patch.applied_to(task), revision=task.revision + 1)
                kind = ChangeKind.ADMITTED
                messages = self._outbox.work_announced(after, kind)
                event = EventDraft(kind, now, TaskStatus.PENDING, json_fields(patch.values()))
                outcome = await self._tasks.admit(task, patch, event, messages)
            if outcome.full:
                break
            if outcome.task is None:
                continue  # it changed meanwhile (cancelled, admitted elsewhere): look again
            self._fresh.submit(messages)
            admitted += 1
            log.info("admitted: a slot of %r", key, extra=task_fields(outcome.task))
        return admitted

    async def after_change(self, key: str) -> int:
        """`admit`, after a change already stored (a dispatch, a slot freed): a store that
        fails now must not fail that change, which stands; the next sweep admits instead."""
        try:
            return await self.admit(key)
        except DependencyUnavailable as exc:
            log.warning("admission for %r left to the next sweep: %s", key, exc)
            return 0

    async def sweep(self) -> int:
        """Admit for every key with a due task waiting; returns how many were admitted."""
        admitted = 0
        for key in await self._tasks.waiting_keys(self._decider.now()):
            admitted += await self.admit(key)
        return admitted
