"""Periodic checks: agents that stopped beating, and tasks past their deadline."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from chiffon.changes import TimeOut
from chiffon.config import OrchestratorConfig
from chiffon.leases import LeaseKeeper
from chiffon.ledger import Applied, TaskLedger
from chiffon.log_fields import agent_fields, task_fields
from chiffon.model import AgentStatus
from ports.agent_registry import AgentRegistry
from ports.clock import Clock
from ports.task_repository import SweepQueries

log = logging.getLogger(__name__)


class Sweeper:
    """Marks silent agents offline (applying the loss policy) and times out overdue tasks.
    Marking agents offline is one atomic store step that returns only what it changed, and a
    time-out goes through the ledger (a conditional change), so with several replicas each
    change is made and announced exactly once."""

    def __init__(
        self,
        tasks: SweepQueries,
        agents: AgentRegistry,
        ledger: TaskLedger,
        leases: LeaseKeeper,
        clock: Clock,
        config: OrchestratorConfig,
    ) -> None:
        self._tasks = tasks
        self._agents = agents
        self._ledger = ledger
        self._leases = leases
        self._clock = clock
        self._config = config

    async def sweep(self) -> None:
        now = self._clock.now()
        silent_since = now - timedelta(seconds=self._config.offline_after_s)
        for agent in await self._agents.mark_stale_offline(silent_since):
            log.warning("agent offline: missed its heartbeats", extra=agent_fields(agent))
            await self._leases.agent_lost(agent)
        await self._reclaim_orphans(silent_since)
        for task in await self._tasks.due_for_timeout(now):
            outcome = await self._ledger.apply(task.task_id, TimeOut(), task)
            if isinstance(outcome, Applied):
                log.warning("task timed out", extra=task_fields(task, status="timed_out"))
        await self.refresh_waiting()

    async def _reclaim_orphans(self, silent_since: datetime) -> None:
        """Tasks still held by an agent that is offline or unknown: its loss was never
        applied (the process that saw it go stopped first, or its registry entry is gone).
        An agent heard from within the detection window is left alone: a goodbye's results
        may still be on their way."""
        agents = await self._agents.find()
        live = {a.agent_id for a in agents if a.status is not AgentStatus.OFFLINE}
        live |= {a.agent_id for a in agents if a.last_heartbeat_at >= silent_since}
        orphans = await self._tasks.orphaned(live, silent_since)
        for task in orphans:
            log.warning(
                "task held by an agent that is gone",
                extra=task_fields(task, agent_id=str(task.agent_id)),
            )
        await self._leases.reclaim(orphans)

    async def refresh_waiting(self) -> None:
        """Re-read which agent types have live, free agents, and bring every pending task's
        waiting reason up to date with it (and with the clock, for scheduled ones)."""
        agents = await self._agents.find()
        await self._ledger.refresh_waiting(agents, set(self._config.routing.routes.values()))

    async def run(self, interval_s: float) -> None:
        """Sweep every `interval_s` until cancelled; a failed sweep is logged and retried."""
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("sweep failed; retrying in %.1fs", interval_s)
            await asyncio.sleep(interval_s)
