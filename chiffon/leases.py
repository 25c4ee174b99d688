"""The loss policy: what happens to running tasks whose agent is gone."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from uuid import UUID

from chiffon.changes import Change, Fail, Retry, SettleCancel
from chiffon.config import OrchestratorConfig
from chiffon.events import AgentUpdated
from chiffon.ledger import Applied, TaskLedger
from chiffon.log_fields import task_fields
from chiffon.model import Agent, LossPolicy, RetryOn, Task, TaskStatus
from chiffon.retry_policy import retries
from ports.notifier import Notifier
from ports.task_repository import SweepQueries

log = logging.getLogger(__name__)


class LeaseKeeper:
    """From `running` on, the orchestrator owns a task's lease: when its agent is lost the
    task is retried as a new attempt (up to max_attempts) or failed, per work type."""

    def __init__(
        self,
        tasks: SweepQueries,
        ledger: TaskLedger,
        notifier: Notifier,
        config: OrchestratorConfig,
    ) -> None:
        self._tasks = tasks
        self._ledger = ledger
        self._notifier = notifier
        self._config = config

    async def agent_lost(self, agent: Agent, only: frozenset[UUID] | None = None) -> None:
        """Announce the agent offline and apply the loss policy to what it was running (or,
        after a goodbye, to the tasks it said it abandoned: its other results are in flight)."""
        await self._notifier.publish(AgentUpdated(agent))
        held = await self._tasks.awaiting_cancel(agent.agent_id)
        held += await self._tasks.running_on(agent.agent_id)
        await self.reclaim(t for t in held if only is None or t.task_id in only)

    async def reclaim(self, held: Iterable[Task]) -> None:
        """The loss policy for each task whose agent (its agent_id) is lost: a running one
        gets its next attempt or fails; a cancel that waited for the agent's answer is
        settled as unconfirmed."""
        for task in held:
            assert task.agent_id is not None
            if task.status is not TaskStatus.RUNNING:  # cancelled: it will never answer
                await self._ledger.apply(task.task_id, SettleCancel(task.attempt, None), task)
                continue
            change = self._change(task, task.agent_id)
            outcome = await self._ledger.apply(task.task_id, change, task)
            if isinstance(outcome, Applied):
                log.warning(
                    "agent lost: task moved to %s",
                    outcome.task.status.value,
                    extra=task_fields(outcome.task, agent_id=str(task.agent_id)),
                )

    def _change(self, task: Task, agent_id: UUID) -> Change:
        policy = self._config.loss_policy_for(task.work_type)
        if policy is LossPolicy.RETRY and retries(task, RetryOn.LOST):
            return Retry(task.attempt)
        if policy is LossPolicy.FAIL:
            why = "loss policy is fail"
        elif RetryOn.LOST not in task.retry_on:
            why = "its retry policy does not retry a lost agent"
        else:
            why = "max_attempts reached"
        reason = f"agent {agent_id} lost during attempt {task.attempt} ({why})"
        return Fail(task.attempt, reason)
