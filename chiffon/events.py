"""What the orchestrator announces through the notifier after every accepted change."""

from __future__ import annotations

import attrs

from chiffon.model import Agent, Task


@attrs.frozen
class TaskUpdated:
    task: Task
    kind: str = "task.updated"


@attrs.frozen
class AgentUpdated:
    agent: Agent
    kind: str = "agent.updated"


Event = TaskUpdated | AgentUpdated
