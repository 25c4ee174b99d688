"""What the orchestrator announces through the notifier after every accepted change."""

from __future__ import annotations

import enum
from typing import ClassVar

import attrs

from chiffon.lifecycle import is_terminal
from chiffon.model import ENDINGS, Agent, Task
from chiffon.schedules import Schedule


@attrs.frozen
class TaskChanged:
    """The task as a change left it; `change` says what happened: a ChangeKind value, the
    kind of the change's timeline entry (a replayed timeline may hold older kinds)."""

    change: str
    task: Task
    # The same write also started the attempt (its `running` and result applied together,
    # TaskLedger.apply_together): the start is in the timeline, not announced on its own.
    started: bool = False
    kind: ClassVar[str] = "task.updated"  # the event's name, on the wire and in push frames

    @property
    def ended(self) -> bool:
        """The change took the task to its final status (not a later word on a final task,
        such as how its cancel ended or a refused report)."""
        return self.change in ENDINGS and is_terminal(self.task.status)


@attrs.frozen
class AgentUpdated:
    agent: Agent
    kind: str = "agent.updated"


class ScheduleChange(enum.StrEnum):
    """What happened to a schedule."""

    CREATED = "created"
    UPDATED = "updated"  # its settings replaced (PUT)
    PAUSED = "paused"
    RESUMED = "resumed"
    DELETED = "deleted"  # the schedule as it was, at revision + 1 (newer than any copy)
    FIRED = "fired"  # a tick dispatched its runs: runs, last_task_id, next_fire_at
    SKIPPED = "skipped"  # a tick's times were all skipped by its policies: next_fire_at
    TRIGGERED = "triggered"  # fired now, outside its timing (last_task_id)


@attrs.frozen
class ScheduleChanged:
    """The schedule as a change left it (announced by the replica that stored the change)."""

    change: ScheduleChange
    schedule: Schedule
    kind: ClassVar[str] = "schedule.updated"


Event = TaskChanged | AgentUpdated | ScheduleChanged
