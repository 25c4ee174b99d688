"""What a decision needs from the world beyond the task and the change: the time, the random
part of a retry's backoff, and what a due pending task of each agent type waits for."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from chiffon import changes as c
from chiffon.config import OrchestratorConfig
from chiffon.model import Agent, Task, WaitingReason
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

    def agents_seen(self, agents: Iterable[Agent], agent_types: Iterable[str]) -> list[str]:
        """Take in the agents as the registry has them now; the agent types they say
        something about (every type in `agent_types`, and every agent's own)."""
        return list(self._availability.update(agents, agent_types))

    def decide(self, task: Task, change: c.Change) -> c.Accepted | c.Refused:
        due = self._availability.of(task.agent_type)
        return c.decide(task, change, self._clock.now(), self._jitter(), due)
