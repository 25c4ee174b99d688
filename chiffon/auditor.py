"""Reads what the history checker needs from the stores, a page at a time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final
from uuid import UUID

import attrs

from chiffon.audit import AuditScope, TaskHistory, Violation, check, concurrency_violations
from chiffon.audit_concurrency import KeyedRuns
from chiffon.model import Task
from ports.agent_registry import AgentRegistry
from ports.clock import Clock
from ports.task_repository import PageCursor, TaskFilter, TaskQueries

AUDIT_PAGE: Final = 200  # tasks (with their timelines) held in memory at once


@attrs.frozen
class AuditReport:
    at: datetime  # when the agents were read: the checker's "now"
    tasks_checked: int
    violations: tuple[Violation, ...]


class Auditor:
    def __init__(
        self, tasks: TaskQueries, agents: AgentRegistry, clock: Clock, detection_s: float
    ) -> None:
        self._tasks = tasks
        self._agents = agents
        self._clock = clock
        self._detection_s = detection_s

    async def audit(
        self,
        since: datetime | None = None,
        trace_id: UUID | None = None,
        *,
        settled: bool = False,
    ) -> AuditReport:
        """Check every task created at or after `since` (None: all) of `trace_id` (None: any
        trace). `settled`: every one of them must have ended. The agents are read first, so
        a task read later that still runs on an agent silent too long at that time is truly
        late."""
        agents = await self._agents.find()
        scope = AuditScope(self._clock.now(), self._detection_s, settled)
        flt = TaskFilter(trace_id=trace_id, created_after=since)
        checked, found = 0, []
        runs = KeyedRuns()  # across pages: a key's tasks may be on any of them
        cursor: PageCursor | None = None
        while True:
            page = await self._tasks.page(flt, AUDIT_PAGE, cursor, light=True)
            found += check(await self._histories(page.items), agents, scope, runs)
            checked += len(page.items)
            if page.next_cursor is None:
                found += concurrency_violations(runs)
                return AuditReport(scope.now, checked, tuple(found))
            cursor = page.next_cursor

    async def _histories(self, tasks: Sequence[Task]) -> list[TaskHistory]:
        timelines = await self._tasks.timelines([t.task_id for t in tasks])
        return [
            # Entries past the revision read belong to a later state of the task.
            TaskHistory(
                t, tuple(e for e in timelines.get(t.task_id, []) if e.revision <= t.revision)
            )
            for t in tasks
        ]
