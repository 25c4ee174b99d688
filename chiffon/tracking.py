"""Use cases of the agents' messages: running, progress, results and heartbeats."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from uuid import UUID

from chiffon.config import MAX_OUTPUT_CHARS
from chiffon.events import AgentUpdated, TaskUpdated
from chiffon.keyed_lock import KeyedLock
from chiffon.leases import LeaseKeeper
from chiffon.log_fields import agent_fields, task_fields
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
MAX_REMEMBERED_AGENTS = 10_000


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
        ignored: Callable[[str], None] = lambda _: None,
    ) -> None:
        """`ignored` hears the kind ("running", "progress", "result") of every agent message
        that changed nothing (stale, duplicate or late), for metrics."""
        self._tasks = tasks
        self._agents = agents
        self._notifier = notifier
        self._clock = clock
        self._outbox = outbox
        self._leases = leases
        self._outbox_written = outbox_written
        self._order = order or KeyedLock()
        self._ignored = ignored
        self._live_agents: set[UUID] = set()  # to log an agent's arrival once, not each beat

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
        done = await self._apply(task_id, RUNNING, attempt, changes, "result", quiet=True)
        if done is None:
            task = await self._tasks.get(result.task_id)
            if task is not None and task.status is TaskStatus.PENDING:
                # The result implies the attempt ran, even if its `running` was never seen.
                await self._start(StatusUpdate(task_id, result.agent_id, attempt, True))
                changes = self._result_changes(result)  # finished after it started
            done = await self._apply(task_id, RUNNING, attempt, changes, "result")
        if done is not None:
            log.info(
                "result: %s in %s ms",
                done.status.value,
                result.duration_ms,
                extra=task_fields(done, status=done.status.value, duration_ms=result.duration_ms),
            )

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
            self._live_agents.discard(beat.agent_id)
            log.info("agent offline: said goodbye", extra=agent_fields(stored))
            await self._leases.agent_lost(stored, frozenset(beat.running_tasks))
            return
        if beat.agent_id not in self._live_agents:
            if len(self._live_agents) >= MAX_REMEMBERED_AGENTS:
                self._live_agents.clear()  # agents of past runs; at worst one line again
            self._live_agents.add(beat.agent_id)
            log.info(
                "agent registered: %s, %d at once, handles %s",
                stored.agent_type,
                stored.max_concurrency,
                ", ".join(stored.capabilities) or "nothing advertised",
                extra=agent_fields(stored),
            )
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
            self._ignored(what)
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
