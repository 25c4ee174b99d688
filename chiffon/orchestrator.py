"""Use cases of the caller: dispatch, read, list and cancel tasks; list agents."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from uuid import UUID

from chiffon.auditor import Auditor, AuditReport
from chiffon.changes import CancelTask
from chiffon.commands import DispatchCommand, rerun_command
from chiffon.config import OrchestratorConfig
from chiffon.errors import (
    NoLiveAgent,
    NotCancellable,
    NotRerunnable,
    TaskIdConflict,
    TaskNotFound,
    UnknownWorkType,
)
from chiffon.ledger import Applied, TaskLedger
from chiffon.lifecycle import TERMINAL
from chiffon.log_fields import task_fields
from chiffon.model import Agent, AgentStatus, NoAgentPolicy, Task, TaskEvent, TaskStatus
from chiffon.routing import Route
from chiffon.stats import Span, Stats, build_stats
from chiffon.waiting import pending_reason
from ports.agent_registry import AgentRegistry
from ports.clock import Clock, IdFactory
from ports.task_repository import (
    PageCursor,
    StoreCounts,
    TaskFilter,
    TaskPage,
    TaskQueries,
)

log = logging.getLogger(__name__)

MAX_PAGE = 500


class OrchestratorService:
    """The caller-facing use cases. Tasks change only through the ledger."""

    def __init__(
        self,
        tasks: TaskQueries,
        agents: AgentRegistry,
        ledger: TaskLedger,
        clock: Clock,
        ids: IdFactory,
        config: OrchestratorConfig,
    ) -> None:
        self._tasks = tasks
        self._agents = agents
        self._ledger = ledger
        self._clock = clock
        self._ids = ids
        self._config = config

    async def dispatch(self, cmd: DispatchCommand) -> tuple[Task, bool]:
        """Store a new task and its work message; returns (task, created). The same request
        again returns the stored task; another request with a used task_id is a conflict."""
        cmd.validate(self._clock.now())
        agent_type = await self._route(cmd.work_type)
        if cmd.on_no_agent is NoAgentPolicy.REJECT:
            await self._require_live_agent(cmd.work_type, agent_type)
        task = self._new_task(cmd, agent_type)
        stored, created = await self._ledger.create(task)
        if not created:
            if stored.task_id != cmd.task_id:
                raise TaskIdConflict(
                    f"request_id {task.request_id} is already used by task {stored.task_id}",
                    {"request_id": str(task.request_id), "task_id": str(stored.task_id)},
                )
            if not cmd.matches(stored):
                raise TaskIdConflict(
                    f"task_id {cmd.task_id} is already used by a different request",
                    {"task_id": str(cmd.task_id), "existing_work_type": stored.work_type},
                )
            return stored, False
        log.info(
            "dispatched %s to %s, priority %d",
            task.work_type,
            task.agent_type,
            task.priority,
            extra=task_fields(task, priority=task.priority),
        )
        return stored, True

    async def rerun(self, task_id: UUID, new_task_id: UUID | None = None) -> tuple[Task, bool]:
        """Dispatch a finished task's work again as `new_task_id` (default: a new id;
        idempotent on it, like dispatch); raises TaskNotFound, or NotRerunnable while the task
        is not finished."""
        original = await self.get_task(task_id)
        if original.status not in TERMINAL:
            raise NotRerunnable(
                f"task {task_id} is {original.status.value}: only a finished task can be rerun",
                {"task_id": str(task_id), "status": original.status.value},
            )
        return await self.dispatch(rerun_command(original, new_task_id or self._ids.new_id()))

    async def get_task(self, task_id: UUID) -> Task:
        task = await self._tasks.get(task_id)
        if task is None:
            raise TaskNotFound(f"task {task_id} not found", {"task_id": str(task_id)})
        return task

    async def list_tasks(
        self, flt: TaskFilter, limit: int, after: PageCursor | None, *, light: bool = False
    ) -> TaskPage:
        """A page of tasks, newest first; `light` leaves parameters, result and output out."""
        return await self._tasks.page(flt, max(1, min(limit, MAX_PAGE)), after, light=light)

    async def stats(self, window_s: int, step_s: int) -> Stats:
        """Counts per interval over the last `window_s` seconds (see chiffon.stats); raises
        InvalidRequest beyond its limits."""
        span = Span.ending_at(self._clock.now(), window_s, step_s)
        return build_stats(span, await self._tasks.activity(span))

    async def store_counts(self) -> StoreCounts:
        """Tasks by status and the unsent outbox backlog (for gauges)."""
        return await self._tasks.counts()

    async def list_agents(
        self, agent_type: str | None = None, status: AgentStatus | None = None
    ) -> list[Agent]:
        return await self._agents.find(agent_type, status)

    async def work_types(self) -> list[Route]:
        """The work types a dispatch may name now, sorted: the routing table's, then those
        that agents not offline advertise; each with the agent type `dispatch` routes it to."""
        return self._config.routing.known(await self._agents.advertised_routes())

    async def timeline(
        self, task_id: UUID, after: int = 0, limit: int = 1000
    ) -> tuple[Task, list[TaskEvent]]:
        """The task and its timeline after revision `after` (read in that order, so the
        timeline reaches at least the task's revision); raises TaskNotFound."""
        task = await self.get_task(task_id)
        return task, await self._tasks.events(task_id, after, limit)

    async def audit(
        self, since: datetime | None = None, trace_id: UUID | None = None, *, settled: bool = False
    ) -> AuditReport:
        """Run the history checker over the tasks created since `since` (None: all), of
        `trace_id` (None: any)."""
        auditor = Auditor(self._tasks, self._agents, self._clock, self._config.audit_limit_s)
        return await auditor.audit(since, trace_id, settled=settled)

    async def cancel(self, task_id: UUID) -> Task:
        """Cancel a pending or running task; its agent (if any) is told to stop."""
        outcome = await self._ledger.apply(task_id, CancelTask())
        if isinstance(outcome, Applied):
            log.info("cancelled", extra=task_fields(outcome.task))
            return outcome.task
        if outcome.task is None:
            raise TaskNotFound(f"task {task_id} not found", {"task_id": str(task_id)})
        status = outcome.task.status.value
        raise NotCancellable(
            f"task {task_id} is already {status}", {"task_id": str(task_id), "status": status}
        )

    async def _require_live_agent(self, work_type: str, agent_type: str) -> None:
        live = [
            a for a in await self._agents.find(agent_type) if a.status is not AgentStatus.OFFLINE
        ]
        if not live:
            raise NoLiveAgent(
                f"no live agent of type {agent_type!r} serves work_type {work_type!r} now",
                {"agent_type": agent_type, "work_type": work_type},
            )

    async def _route(self, work_type: str) -> str:
        routing = self._config.routing
        agent_type = routing.lookup(work_type)
        if agent_type is None:
            agent_type = routing.lookup(work_type, await self._agents.advertised_routes())
        if agent_type is None:
            raise UnknownWorkType(
                f"no agent type serves work_type {work_type!r}",
                {"work_type": [f"unknown; known: {', '.join(sorted(routing.routes))}"]},
            )
        return agent_type

    def _new_task(self, cmd: DispatchCommand, agent_type: str) -> Task:
        now = self._clock.now()
        start = cmd.start_at(now)
        # The deadline counts from when the task may start.
        begins = start or now
        deadline = None if cmd.timeout_s is None else begins + timedelta(seconds=cmd.timeout_s)
        # Decided before the task is built, so it is built once (a copy costs as much).
        reason, until = pending_reason(start, 1, self._ledger.due(agent_type), now)
        return Task(
            task_id=cmd.task_id,
            request_id=cmd.chosen_request_id or self._ids.new_id(),
            trace_id=cmd.chosen_trace_id or self._ids.new_id(),
            work_type=cmd.work_type,
            agent_type=agent_type,
            priority=cmd.priority,
            parameters=cmd.parameters,
            status=TaskStatus.PENDING,
            created_at=now,
            updated_at=now,
            max_attempts=cmd.retry.max_attempts,
            retry_on=cmd.retry.on,
            retry_backoff_s=cmd.retry.backoff_s,
            retry_backoff_max_s=cmd.retry.max_backoff_s,
            not_before=start,
            next_attempt_at=start,
            timeout_s=None if cmd.timeout_s is None else float(cmd.timeout_s),
            deadline_at=deadline,
            rerun_of=cmd.rerun_of,
            schedule_id=cmd.schedule_id,
            scheduled_at=cmd.scheduled_at,
            waiting_reason=reason,
            waiting_until=until,
        )
