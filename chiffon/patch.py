"""What one change sets on a task, as a typed value: the ledger hands it to the store, which
applies it. A field a change leaves alone is KEEP; a misspelled field is a type error, not a
run-time check against a set of names.
"""

from __future__ import annotations

import enum
import operator
from datetime import datetime
from typing import Any, Final
from uuid import UUID

import attrs

from chiffon.model import CancelOutcome, Task, TaskStatus, WaitingReason


class Keep(enum.Enum):
    """The value of a field a patch leaves as it is (None is a value: the field cleared)."""

    KEEP = "keep"


KEEP: Final = Keep.KEEP


@attrs.frozen
class TaskPatch:
    """The fields a stored task may change after dispatch (the revision moves by one on its
    own); every other field is fixed when the task is created. Each is KEEP unless set."""

    status: TaskStatus | Keep = KEEP
    attempt: int | Keep = KEEP
    progress_percent: int | Keep | None = KEEP
    progress_message: str | Keep | None = KEEP
    output: str | Keep | None = KEEP
    result: Any = KEEP  # a JSON value (None included), or KEEP
    error_message: str | Keep | None = KEEP
    exit_code: int | Keep | None = KEEP
    duration_ms: int | Keep | None = KEEP
    agent_id: UUID | Keep | None = KEEP
    started_at: datetime | Keep | None = KEEP
    finished_at: datetime | Keep | None = KEEP
    updated_at: datetime | Keep = KEEP
    next_attempt_at: datetime | Keep | None = KEEP
    deadline_at: datetime | Keep | None = KEEP
    waiting_reason: WaitingReason | Keep | None = KEEP
    waiting_until: datetime | Keep | None = KEEP
    cancel_outcome: CancelOutcome | Keep | None = KEEP

    def values(self) -> dict[str, Any]:
        """The fields it sets, by name, in declaration order (names from this class only:
        safe for a store to use as column names)."""
        return {n: v for n, v in zip(NAMES, _read(self), strict=True) if v is not KEEP}

    def __or__(self, later: TaskPatch) -> TaskPatch:
        """This patch, then `later`: where both set a field, `later` wins."""
        pairs = zip(_read(self), _read(later), strict=True)
        return TaskPatch(*(mine if theirs is KEEP else theirs for mine, theirs in pairs))

    def applied_to(self, task: Task) -> Task:
        """`task` with these fields set (its revision as it was)."""
        return attrs.evolve(task, **self.values())


NAMES: Final[tuple[str, ...]] = tuple(f.name for f in attrs.fields(TaskPatch))
# Every field's value at once, in declaration order (attrs.asdict/evolve are several times
# slower, and a result's patch is combined and read on every report).
_read: Final = operator.attrgetter(*NAMES)


@attrs.frozen
class ReportGuard:
    """What an agent's report, written without reading the task, requires of the stored task:
    one of `statuses`, and when given the `attempt`, the attempt's holder `agent_id`, and
    work due by `due_by` (next_attempt_at null or not after it)."""

    statuses: frozenset[TaskStatus]
    attempt: int | None = None
    agent_id: UUID | None = None
    due_by: datetime | None = None

    def matches(self, task: Task) -> bool:
        held = self.agent_id is None or task.agent_id == self.agent_id
        later = task.next_attempt_at
        due = self.due_by is None or later is None or later <= self.due_by
        ours = task.status in self.statuses and self.attempt in (None, task.attempt)
        return ours and held and due
