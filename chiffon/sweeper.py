"""Periodic checks: agents that stopped beating, and tasks past their deadline."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from chiffon.config import OrchestratorConfig
from chiffon.events import TaskUpdated
from chiffon.keyed_lock import KeyedLock
from chiffon.leases import LeaseKeeper
from chiffon.log_fields import agent_fields, task_fields
from chiffon.messages import OutboxFactory, OutboxWritten
from ports.agent_registry import AgentRegistry
from ports.clock import Clock
from ports.notifier import Notifier
from ports.task_repository import TaskRepository

log = logging.getLogger(__name__)


class Sweeper:
    """Marks silent agents offline (applying the loss policy) and times out overdue tasks.
    Both steps are single atomic store operations that return only what they changed, so
    with several replicas each change is announced exactly once."""

    def __init__(
        self,
        tasks: TaskRepository,
        agents: AgentRegistry,
        notifier: Notifier,
        clock: Clock,
        outbox: OutboxFactory,
        leases: LeaseKeeper,
        config: OrchestratorConfig,
        outbox_written: OutboxWritten = lambda _: None,
        order: KeyedLock | None = None,
    ) -> None:
        self._tasks = tasks
        self._agents = agents
        self._notifier = notifier
        self._clock = clock
        self._outbox = outbox
        self._leases = leases
        self._config = config
        self._outbox_written = outbox_written
        self._order = order or KeyedLock()

    async def sweep(self) -> None:
        now = self._clock.now()
        silent_since = now - timedelta(seconds=self._config.offline_after_s)
        for agent in await self._agents.mark_stale_offline(silent_since):
            log.warning("agent offline: missed its heartbeats", extra=agent_fields(agent))
            await self._leases.agent_lost(agent)
        expired = await self._tasks.expire_due(now)
        cancels = [self._outbox.cancel(t, "timed out") for t in expired if t.agent_id is not None]
        if cancels:
            await self._tasks.enqueue(cancels)
            self._outbox_written(cancels)
        for task in expired:
            log.warning("task timed out", extra=task_fields(task, status="timed_out"))
            async with self._order.hold(task.task_id):  # after any change being announced
                await self._notifier.publish(TaskUpdated(task))

    async def run(self, interval_s: float) -> None:
        """Sweep every `interval_s` until cancelled; a failed sweep is logged and retried."""
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("sweep failed; retrying in %.1fs", interval_s)
            await asyncio.sleep(interval_s)
