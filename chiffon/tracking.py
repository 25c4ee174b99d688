"""Use cases of the agents' messages: running, progress, results and heartbeats."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from chiffon.config import MAX_OUTPUT_CHARS
from chiffon.events import AgentUpdated, TaskUpdated
from chiffon.keyed_lock import KeyedLock
from chiffon.leases import LeaseKeeper
from chiffon.messages import OutboxFactory, OutboxWritten
from chiffon.model import (
    Agent,
    AgentMessage,
    AgentStatus,
    Heartbeat,
    ResultStatus,
    StatusUpdate,
    Task,
    TaskStatus,
    WorkResult,
)
from ports.agent_registry import AgentRegistry
from ports.clock import Clock
from ports.notifier import Notifier
from ports.task_repository import TaskRepository

log = logging.getLogger(__name__)

PENDING = frozenset({TaskStatus.PENDING})
RUNNING = frozenset({TaskStatus.RUNNING})
STOPPED = frozenset({TaskStatus.CANCELLED, TaskStatus.TIMED_OUT})


class AgentMessageTracker:
    """Moves tasks through their states from agent messages. Every message carries its
    attempt; a message of a superseded attempt, a duplicate or a late one changes nothing."""

    def __init__(
        self,
        tasks: TaskRepository,
        agents: AgentRegistry,
        notifier: Notifier,
        clock: Clock,
        outbox: OutboxFactory,
        leases: LeaseKeeper,
        outbox_written: OutboxWritten = lambda _: None,
        order: KeyedLock | None = None,
    ) -> None:
        self._tasks = tasks
        self._agents = agents
        self._notifier = notifier
        self._clock = clock
        self._outbox = outbox
        self._leases = leases
        self._outbox_written = outbox_written
        self._order = order or KeyedLock()

    async def handle(self, message: AgentMessage) -> None:
        """Apply one message; messages about one task or agent are applied in arrival order
        even when the bus hands several over at once."""
        if isinstance(message, Heartbeat):
            async with self._order.hold(message.agent_id):
                await self.on_heartbeat(message)
            return
        async with self._order.hold(message.task_id):
            if isinstance(message, WorkResult):
                await self.on_result(message)
            else:
                await self.on_status(message)

    async def on_status(self, update: StatusUpdate) -> None:
        if update.running:
            await self._start(update)
            return
        changes: dict[str, Any] = {
            "updated_at": self._clock.now(),
            "progress_message": update.message,
        }
        if update.progress_percent is not None:
            changes["progress_percent"] = max(0, min(100, update.progress_percent))
        await self._apply(update.task_id, RUNNING, update.attempt, changes, "progress")

    async def on_result(self, result: WorkResult) -> None:
        changes = self._result_changes(result)
        task_id, attempt = result.task_id, result.attempt
        if await self._apply(task_id, RUNNING, attempt, changes, "result", quiet=True):
            return  # the common case: one conditional update
        task = await self._tasks.get(result.task_id)
        if task is not None and task.status is TaskStatus.PENDING:
            # The result implies the attempt ran, even if its `running` was never seen.
            await self._start(StatusUpdate(result.task_id, result.agent_id, result.attempt, True))
            changes = self._result_changes(result)  # finished after it started
        await self._apply(result.task_id, RUNNING, result.attempt, changes, "result")

    def _result_changes(self, result: WorkResult) -> dict[str, Any]:
        now = self._clock.now()
        changes: dict[str, Any] = {
            "status": TaskStatus(result.status.value),
            "output": _bounded(result.output),
            "result": result.result,
            "error_message": result.error_message,
            "exit_code": result.exit_code,
            "duration_ms": result.duration_ms,
            "finished_at": now,
            "updated_at": now,
        }
        if result.status is ResultStatus.COMPLETED:
            changes["progress_percent"] = 100
        if result.status is ResultStatus.FAILED and not result.error_message:
            changes["error_message"] = "the handler failed without a message"
        return changes

    async def on_heartbeat(self, beat: Heartbeat) -> None:
        agent = Agent(
            agent_id=beat.agent_id,
            agent_type=beat.agent_type,
            status=AgentStatus.OFFLINE if beat.goodbye else beat.status,
            capabilities=beat.capabilities,
            max_concurrency=beat.max_concurrency,
            running_tasks=beat.running_tasks,
            resources=beat.resources,
            last_heartbeat_at=self._clock.now(),
        )
        stored = await self._agents.record(agent)
        if beat.goodbye:
            await self._leases.agent_lost(stored, frozenset(beat.running_tasks))
        else:
            await self._notifier.publish(AgentUpdated(stored))

    async def _start(self, update: StatusUpdate) -> None:
        now = self._clock.now()
        changes = {
            "status": TaskStatus.RUNNING,
            "agent_id": update.agent_id,
            "started_at": now,
            "updated_at": now,
        }
        if await self._apply(update.task_id, PENDING, update.attempt, changes, "running"):
            return
        task = await self._tasks.get(update.task_id)
        if task is not None and task.status in STOPPED:
            # The agent started work that was cancelled or timed out: tell it again to stop.
            again = [self._outbox.cancel(task, f"task is {task.status.value}")]
            await self._tasks.enqueue(again)
            self._outbox_written(again)

    async def _apply(
        self,
        task_id: UUID,
        allowed: frozenset[TaskStatus],
        attempt: int,
        changes: dict[str, Any],
        what: str,
        quiet: bool = False,
    ) -> Task | None:
        moved = await self._tasks.transition(task_id, allowed, attempt, changes)
        if moved is None:
            if quiet:
                return None
            log.info(
                "ignored %s of attempt %s: stale, duplicate or late",
                what,
                attempt,
                extra={"task_id": str(task_id)},
            )
            return None
        await self._notifier.publish(TaskUpdated(moved))
        return moved


def _bounded(output: str | None) -> str | None:
    if output is None or len(output) <= MAX_OUTPUT_CHARS:
        return output
    return output[-MAX_OUTPUT_CHARS:]
