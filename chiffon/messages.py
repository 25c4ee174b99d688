"""Building the bus messages that follow from task changes."""

from __future__ import annotations

import itertools
from typing import Final
from uuid import UUID

from chiffon.credentials import ReplicaKey
from chiffon.model import (
    Cancel,
    ChangeKind,
    OutboxMessage,
    Task,
    TaskAnnouncement,
    WorkRequest,
)
from ports.clock import Clock, IdFactory


def work_request_for(task: Task, leases: ReplicaKey | None = None) -> WorkRequest:
    """The work message of the task's current attempt, with its lease token."""
    return WorkRequest(
        task_id=task.task_id,
        request_id=task.request_id,
        trace_id=task.trace_id,
        work_type=task.work_type,
        agent_type=task.agent_type,
        parameters=task.parameters,
        priority=task.priority,
        attempt=task.attempt,
        timeout_s=_remaining_s(task),
        lease="" if leases is None else leases.lease(task.task_id, task.attempt),
    )


def _remaining_s(task: Task) -> float | None:
    if task.deadline_at is None or task.timeout_s is None:
        return task.timeout_s
    # An attempt gets only what is left of the task's deadline when it is due to start.
    start = task.next_attempt_at or task.updated_at
    left = (task.deadline_at - start).total_seconds()
    return max(round(left, 3), 0.001)


# A message id need only be unique, never unguessable: it authorizes nothing (leases do) and
# only keys the outbox. So one random id is drawn when the factory is made and the next ones
# count up from it in its low 48 bits (still a version 4 UUID), an addition where uuid4 reads
# os.urandom: three or four ids per dispatch. Unique in a process; across processes the 74
# random bits left make a clash as unlikely as for uuid4 over any real number of starts.
_COUNTED_BITS: Final = 48


class OutboxFactory:
    """Wraps messages for the outbox with fresh ids and timestamps."""

    def __init__(self, clock: Clock, ids: IdFactory, leases: ReplicaKey) -> None:
        self._clock = clock
        self._base = ids.new_id().int >> _COUNTED_BITS << _COUNTED_BITS
        self._counter = itertools.count(1)
        self._leases = leases

    def _new_id(self) -> UUID:
        return UUID(int=self._base | next(self._counter))

    def work(self, task: Task) -> OutboxMessage:
        """The work of the task's current attempt, sent when the attempt is due."""
        return OutboxMessage(
            self._new_id(),
            work_request_for(task, self._leases),
            self._clock.now(),
            task.next_attempt_at,
        )

    def announce(self, task: Task, change: ChangeKind) -> OutboxMessage:
        told = TaskAnnouncement(task, change)
        return OutboxMessage(self._new_id(), told, self._clock.now())

    def work_announced(self, task: Task, change: ChangeKind) -> list[OutboxMessage]:
        """The task's announcement (`change` made it pending), then its work: relayed in this
        order."""
        return [self.announce(task, change), self.work(task)]

    def cancel(
        self, task: Task, reason: str, agent_id: UUID | None = None, attempt: int | None = None
    ) -> OutboxMessage:
        """Stop the task on whichever agent runs it, or only `agent_id`'s run of `attempt`."""
        stop = Cancel(task.task_id, reason, agent_id, attempt)
        return OutboxMessage(self._new_id(), stop, self._clock.now())
