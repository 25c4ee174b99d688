"""What the orchestrator announces through the notifier after every accepted change."""

from __future__ import annotations

from typing import ClassVar

import attrs

from chiffon.lifecycle import is_terminal
from chiffon.model import ENDINGS, Agent, Task


@attrs.frozen
class TaskChanged:
    """The task as a change left it; `change` says what happened: a ChangeKind value, the
    kind of the change's timeline entry (a replayed timeline may hold older kinds)."""

    change: str
    task: Task
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


Event = TaskChanged | AgentUpdated
