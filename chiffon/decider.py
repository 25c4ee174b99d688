"""What a decision needs from the world beyond the task and the change: the time, the random
part of a retry's backoff, and what a due pending task of each agent type waits for."""

from __future__ import annotations

from datetime import datetime

from chiffon import changes as c
from chiffon.config import OrchestratorConfig
from chiffon.model import Task, WaitingReason
from chiffon.waiting import AgentAvailability
from ports.clock import Clock


class Decider:
    """`changes.decide` with its inputs from the world, read at the moment it decides."""

    def __init__(
        self, clock: Clock, config: OrchestratorConfig, availability: AgentAvailability
    ) -> None:
        self._clock = clock
        self._jitter = config.jitter
        self._availability = availability

    def now(self) -> datetime:
        return self._clock.now()

    def due(self, agent_type: str) -> WaitingReason:
        """What a due pending task of `agent_type` waits for."""
        return self._availability.of(agent_type)

    def decide(self, task: Task, change: c.Change) -> c.Accepted | c.Refused:
        due = self._availability.of(task.agent_type)
        return c.decide(task, change, self._clock.now(), self._jitter(), due)
