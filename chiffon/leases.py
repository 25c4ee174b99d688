"""The loss policy: what happens to running tasks whose agent is gone."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Final
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

MAX_UNLISTED_TRACKED: Final = 10_000


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
        self._checked_at: dict[UUID, datetime] = {}  # agent -> its last check for unlisted
        # agent -> (task, attempt) -> since when its beats leave it out; rebuilt at each check,
        # so a suspect that finished meanwhile is forgotten.
        self._unlisted_since: dict[UUID, dict[tuple[UUID, int], datetime]] = {}

    async def agent_lost(self, agent: Agent, only: frozenset[UUID] | None = None) -> None:
        """Announce the agent offline and apply the loss policy to what it was running (or,
        after a goodbye, to the tasks it said it abandoned: its other results are in flight)."""
        await self._notifier.publish(AgentUpdated(agent))
        held = await self._tasks.awaiting_cancel(agent.agent_id)
        held += await self._tasks.running_on(agent.agent_id)
        await self.reclaim(t for t in held if only is None or t.task_id in only)

    async def reclaim_unlisted(self, agent: Agent, now: datetime) -> None:
        """A live agent's heartbeat lists what it runs (and what it has results of still to
        send). A task stored `running` on it that its beats have not listed for
        `unlisted_after_s` is at work nowhere, and the loss policy takes it. Beats and reports
        travel apart, so one beat that misses a task proves nothing (its result may be queued
        behind it): the task must stay unlisted that long, and have started that long ago.
        Checked at most every half of that per agent (one indexed query)."""
        after = timedelta(seconds=self._config.unlisted_after_s)
        last = self._checked_at.get(agent.agent_id)
        if last is not None and now - last < after / 2:
            return
        if len(self._checked_at) >= MAX_UNLISTED_TRACKED:  # agents of past runs
            self._checked_at.clear()
            self._unlisted_since.clear()
        self._checked_at[agent.agent_id] = now
        listed = set(agent.running_tasks)
        before = self._unlisted_since.get(agent.agent_id, {})
        suspects: dict[tuple[UUID, int], datetime] = {}
        lost: list[Task] = []
        for task in await self._tasks.running_on(agent.agent_id):
            if task.task_id in listed or task.started_at is None or now - task.started_at < after:
                continue
            key = (task.task_id, task.attempt)
            since = before.get(key, now)
            if now - since >= after:
                lost.append(task)
            else:
                suspects[key] = since
        if suspects:
            self._unlisted_since[agent.agent_id] = suspects
        else:
            self._unlisted_since.pop(agent.agent_id, None)
        for task in lost:
            log.warning(
                "agent %s no longer runs attempt %d (its heartbeats have not listed it for %.0f s)",
                agent.agent_id,
                task.attempt,
                self._config.unlisted_after_s,
                extra=task_fields(task, agent_id=str(agent.agent_id)),
            )
        await self.reclaim(lost)

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
