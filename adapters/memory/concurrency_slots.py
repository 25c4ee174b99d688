"""The in-memory store's index of concurrency keys: who holds a slot, who waits for one."""

from __future__ import annotations

from uuid import UUID

from chiffon.concurrency import holds_slot, waits_for_slot
from chiffon.model import Task


class SlotIndex:
    """Kept up to date with every stored task, so admission counts a key's slots without
    scanning the tasks (like the partial indexes of PostgreSQL migration 0013)."""

    def __init__(self) -> None:
        self._holding: dict[str, set[UUID]] = {}
        self._waiting: dict[str, set[UUID]] = {}

    def track(self, task: Task) -> None:
        key = task.concurrency_key
        if key is None:
            return
        for index, member in ((self._holding, holds_slot), (self._waiting, waits_for_slot)):
            ids = index.setdefault(key, set())
            if member(task):
                ids.add(task.task_id)
            else:
                ids.discard(task.task_id)
                if not ids:
                    del index[key]

    def forget(self, task: Task) -> None:
        key = task.concurrency_key
        for index in (self._holding, self._waiting):
            ids = index.get(key or "", set())
            ids.discard(task.task_id)
            if not ids and key in index:
                del index[key]

    def held(self, key: str) -> int:
        return len(self._holding.get(key, ()))

    def waiting(self, key: str) -> frozenset[UUID]:
        return frozenset(self._waiting.get(key, ()))

    def waiting_keys(self) -> list[str]:
        return sorted(self._waiting)
