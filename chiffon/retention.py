"""Retention: finished tasks (with their timelines) and offline agents are forgotten after a
while, in small batches, so nothing grows forever and no sweep holds a long lock."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Final

import attrs

from ports.agent_registry import AgentRegistry
from ports.clock import Clock
from ports.task_repository import SweepQueries

log = logging.getLogger(__name__)

BATCH: Final = 500


@attrs.frozen
class RetentionPolicy:
    tasks_s: float = 7 * 24 * 3600.0  # finished tasks are deleted this long after they end
    agents_s: float = 24 * 3600.0  # offline agents are forgotten this long after their last beat
    every_s: float = 60.0  # how often to look


class RetentionSweeper:
    """Deletes in batches of BATCH, yielding between them, until a batch comes back short.
    On PostgreSQL one replica deletes at a time (the store sees to it)."""

    def __init__(
        self,
        tasks: SweepQueries,
        agents: AgentRegistry,
        clock: Clock,
        policy: RetentionPolicy,
    ) -> None:
        self._tasks = tasks
        self._agents = agents
        self._clock = clock
        self._policy = policy

    async def sweep(self) -> tuple[int, int]:
        """One pass; returns (tasks deleted, agents forgotten)."""
        now = self._clock.now()
        tasks_before = now - timedelta(seconds=self._policy.tasks_s)
        agents_before = now - timedelta(seconds=self._policy.agents_s)
        tasks = await self._batches(lambda: self._tasks.delete_finished(tasks_before, BATCH))
        agents = await self._batches(lambda: self._agents.forget_offline(agents_before, BATCH))
        if tasks or agents:
            log.info(
                "retention: deleted %d finished tasks, forgot %d offline agents", tasks, agents
            )
        return tasks, agents

    async def run(self) -> None:
        """Sweep every `every_s` until cancelled; a failed sweep is logged and retried."""
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("retention sweep failed; retrying in %.0fs", self._policy.every_s)
            await asyncio.sleep(self._policy.every_s)

    @staticmethod
    async def _batches(delete_one: Callable[[], Awaitable[int]]) -> int:
        total = 0
        while True:
            gone = await delete_one()
            total += gone
            if gone < BATCH:
                return total
            await asyncio.sleep(0)  # let everything else run between batches
