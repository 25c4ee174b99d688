"""Concurrency limits by key: at most `max_running` tasks of one key hold a slot at once.

A task with a key waits (`concurrency_limit`) until it is admitted: admission gives it a slot
(`admitted_at`) and sends its work. It holds the slot through its retries until it ends, or,
for a cancel of a running task, until its agent says how the cancel ended (the handler may
still be running until then). The slots of a key are the rows of its tasks that hold one:
there is nothing to release, so a slot cannot leak (ADR 0015).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Final

import attrs

from chiffon.lifecycle import ACTIVE
from chiffon.model import CancelOutcome, Task, TaskStatus, WaitingReason
from chiffon.patch import TaskPatch

MAX_KEY_CHARS: Final = 200
MAX_RUNNING_LIMIT: Final = 10_000
_CONTROL: Final = re.compile("[\x00-\x1f\x7f-\x9f]")  # as for work types


@attrs.frozen
class ConcurrencyLimit:
    """A dispatch's (or a schedule's) limit: `key` names what is shared (a host, a database,
    a customer), `max_running` how many of its tasks may hold a slot at once."""

    key: str
    max_running: int = 1

    def problems(self) -> list[str]:
        found = []
        if not self.key.strip() or len(self.key) > MAX_KEY_CHARS:
            found.append(f"key must be 1 to {MAX_KEY_CHARS} characters, not all blank")
        elif _CONTROL.search(self.key):
            found.append("key must not contain control characters")
        if type(self.max_running) is not int or not 1 <= self.max_running <= MAX_RUNNING_LIMIT:
            found.append(f"max_running must be an integer between 1 and {MAX_RUNNING_LIMIT}")
        return found


def limit_of(task: Task) -> ConcurrencyLimit | None:
    if task.concurrency_key is None:
        return None
    return ConcurrencyLimit(task.concurrency_key, task.concurrency_max_running or 1)


def waits_for_slot(task: Task) -> bool:
    """Pending with a key and not yet admitted: its work is not sent."""
    return (
        task.status is TaskStatus.PENDING
        and task.concurrency_key is not None
        and task.admitted_at is None
    )


def holds_slot(task: Task) -> bool:
    """Admitted and not done with its slot: active, or cancelled while running and its
    agent's word on the cancel is still awaited."""
    if task.concurrency_key is None or task.admitted_at is None:
        return False
    return task.status in ACTIVE or task.cancel_outcome is CancelOutcome.REQUESTED


def released(task: Task) -> bool:
    """An admitted task that no longer holds its slot (another of its key may take it)."""
    admitted = task.admitted_at is not None and task.concurrency_key is not None
    return admitted and not holds_slot(task)


def admission(task: Task, now: datetime, due: WaitingReason) -> TaskPatch:
    """What admitting `task` sets: its slot, the waiting reason of a due task of its type
    (`due`), and its deadline, which counts from here (waiting for a slot is not running
    late)."""
    patch = TaskPatch(admitted_at=now, waiting_reason=due, waiting_until=None, updated_at=now)
    if task.timeout_s is None:
        return patch
    begins = max(now, task.next_attempt_at or now)
    return attrs.evolve(patch, deadline_at=begins + timedelta(seconds=task.timeout_s))
