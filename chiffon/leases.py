"""The loss policy: what happens to running tasks whose agent is gone."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

import attrs

from chiffon.config import OrchestratorConfig
from chiffon.events import AgentUpdated, TaskUpdated
from chiffon.keyed_lock import KeyedLock
from chiffon.messages import OutboxFactory, OutboxWritten
from chiffon.model import Agent, LossPolicy, Task, TaskStatus
from ports.clock import Clock
from ports.notifier import Notifier
from ports.task_repository import TaskRepository

log = logging.getLogger(__name__)

RUNNING = frozenset({TaskStatus.RUNNING})


class LeaseKeeper:
    """From `running` on, the orchestrator owns a task's lease: when its agent is lost the
    task is retried as a new attempt (up to max_attempts) or failed, per work type."""

    def __init__(
        self,
        tasks: TaskRepository,
        notifier: Notifier,
        clock: Clock,
        outbox: OutboxFactory,
        config: OrchestratorConfig,
        outbox_written: OutboxWritten,
        order: KeyedLock | None = None,
    ) -> None:
        self._tasks = tasks
        self._notifier = notifier
        self._clock = clock
        self._outbox = outbox
        self._config = config
        self._outbox_written = outbox_written
        self._order = order or KeyedLock()

    async def agent_lost(self, agent: Agent, only: frozenset[UUID] | None = None) -> None:
        """Announce the agent offline and apply the loss policy to what it was running (or,
        after a goodbye, to the tasks it said it abandoned: its other results are in flight)."""
        await self._notifier.publish(AgentUpdated(agent))
        for task in await self._tasks.running_on(agent.agent_id):
            if only is None or task.task_id in only:
                async with self._order.hold(task.task_id):
                    await self._apply(task, agent)

    async def _apply(self, task: Task, agent: Agent) -> None:
        now = self._clock.now()
        policy = self._config.loss_policy_for(task.work_type)
        if policy is LossPolicy.RETRY and task.attempt < task.max_attempts:
            changes: dict[str, Any] = {
                "status": TaskStatus.PENDING,
                "attempt": task.attempt + 1,
                "agent_id": None,
                "started_at": None,
                "progress_percent": None,
                "progress_message": None,
                "updated_at": now,
            }
            messages = self._outbox.work_announced(attrs.evolve(task, **changes))
            moved = await self._tasks.transition(
                task.task_id, RUNNING, task.attempt, changes, messages
            )
        else:
            why = "max_attempts reached" if policy is LossPolicy.RETRY else "loss policy is fail"
            moved = await self._tasks.transition(
                task.task_id,
                RUNNING,
                task.attempt,
                {
                    "status": TaskStatus.FAILED,
                    "finished_at": now,
                    "updated_at": now,
                    "error_message": f"agent {agent.agent_id} lost during attempt "
                    f"{task.attempt} ({why})",
                },
            )
        if moved is not None:
            log.warning(
                "agent lost: task moved to %s",
                moved.status.value,
                extra={"task_id": str(task.task_id), "trace_id": str(task.trace_id)},
            )
            if moved.status is TaskStatus.PENDING:
                self._outbox_written(messages)  # the relay announces it, then the retry
            else:
                await self._notifier.publish(TaskUpdated(moved))
