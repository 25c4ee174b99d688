"""The history checker: chiffon's promises, checked over tasks' whole timelines.

A pure function of what the store holds: each task as it stands, with its timeline, and the
agents as the registry knows them. It returns every broken promise it finds as a Violation
naming the task, the revisions involved and what went wrong, in words. `chiffon audit`,
GET /api/v1/audit, the simulation and every e2e and fault test end with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final
from uuid import UUID

import attrs

from chiffon import lifecycle
from chiffon.attempt_holder import REFUSED_KIND
from chiffon.model import Agent, CancelOutcome, ChangeKind, Task, TaskEvent, TaskStatus

# What may still be written after a task's final state: a refused report (recorded, never
# applied), and a cancelled task's last word from its agent.
SETTLE_KINDS: Final = frozenset({ChangeKind.CANCEL_CONFIRMED, ChangeKind.CANCEL_UNCONFIRMED})
SETTLE_KEYS: Final = frozenset(
    {
        "status",
        "cancel_outcome",
        "updated_at",
        "output",
        "result",
        "error_message",
        "exit_code",
        "duration_ms",
        "reported_by",
    }
)
# How a timeline begins: a dispatch, or (PostgreSQL migration 0002) a task's state when
# timelines began.
FIRST_KINDS: Final = frozenset({ChangeKind.DISPATCHED, "imported"})
# Kinds that apply an agent's report: only the holder of the current attempt may make them.
HELD_REPORTS: Final = frozenset(
    {ChangeKind.PROGRESS, ChangeKind.FINISHED, ChangeKind.CANCEL_CONFIRMED}
)


class Rule:
    """The rules, by the name a violation carries."""

    REVISIONS = "revisions"  # 1, 2, 3... without gaps, the last one the task's own
    ONE_END = "one_terminal_state"  # one final state, nothing changed after it
    LIFECYCLE = "lifecycle"  # every status change is one the lifecycle table allows
    TIMELINE = "timeline"  # the timeline folds to the task as stored
    ATTEMPTS = "max_attempts"  # attempts go up by one, never above max_attempts
    HOLDER = "report_holder"  # reports applied only from the holder of the current attempt
    ONE_RUNNER = "one_runner"  # never two agents running one attempt
    CANCEL = "cancel_outcome"  # every cancel has (or will surely get) an outcome
    WAITING = "waiting_reason"  # every pending task says why it waits
    LOST_AGENT = "lost_agent"  # nothing running on an agent silent past the detection time
    UNFINISHED = "unfinished"  # (when asked for a settled history) every task has ended


@attrs.frozen
class TaskHistory:
    """A task as stored and its timeline (revisions up to the task's, in order)."""

    task: Task
    events: tuple[TaskEvent, ...]


@attrs.frozen
class Violation:
    task_id: UUID
    rule: str
    revisions: tuple[int, ...]
    message: str

    def __str__(self) -> str:
        at = ", ".join(str(r) for r in self.revisions) or "-"
        return f"task {self.task_id} [{self.rule}] revisions {at}: {self.message}"


@attrs.frozen
class AuditScope:
    """When the history was read, and how long a silent agent may keep its tasks running
    before its loss must have been noticed (heartbeats missed, plus a sweep)."""

    now: datetime
    detection_s: float
    settled: bool = False  # every task must have ended (a run that is over)


def check(
    histories: Iterable[TaskHistory], agents: Sequence[Agent], scope: AuditScope
) -> list[Violation]:
    """Every violation in these histories, task by task, in timeline order."""
    by_id = {a.agent_id: a for a in agents}
    found: list[Violation] = []
    for history in histories:
        found.extend(_Timeline(history).check())
        found.extend(_state(history.task, by_id, scope))
    return found


class _Timeline:
    """Folds one task's timeline, checking each entry against what the task was before it."""

    def __init__(self, history: TaskHistory) -> None:
        self.task = history.task
        self.events = history.events
        self.found: list[Violation] = []
        self.status = TaskStatus.PENDING
        self.attempt = 1
        self.agent: str | None = None
        self.max_attempts = self.task.max_attempts
        self.ended_at: int | None = None  # the revision of the final state
        self.runners: dict[int, tuple[str, int]] = {}  # attempt -> (agent, revision started)

    def violation(self, rule: str, revisions: Iterable[int], message: str) -> None:
        self.found.append(Violation(self.task.task_id, rule, tuple(revisions), message))

    def check(self) -> list[Violation]:
        if not self.events:
            self.violation(Rule.REVISIONS, (), "the task has no timeline")
            return self.found
        self._revisions()
        first = self.events[0]
        if first.kind not in FIRST_KINDS:
            self.violation(Rule.REVISIONS, (first.revision,), f"it begins with {first.kind}")
        self._start(first)
        for event in self.events[1:]:
            self._entry(event)
        self._matches_task()
        return self.found

    def _revisions(self) -> None:
        for expected, event in enumerate(self.events, start=1):
            if event.revision != expected:
                self.violation(
                    Rule.REVISIONS,
                    (expected - 1, event.revision),
                    f"revision {event.revision} follows {expected - 1}: a gap or a repeat",
                )
                return
        last = self.events[-1].revision
        if last != self.task.revision:
            self.violation(
                Rule.REVISIONS,
                (last, self.task.revision),
                f"the timeline ends at revision {last}, the task is at {self.task.revision}",
            )

    def _start(self, first: TaskEvent) -> None:
        changes = first.changes
        self.status = _status(changes.get("status"), first.status)
        self.attempt = int(changes.get("attempt", 1))
        self.agent = _agent(changes.get("agent_id"))
        self.max_attempts = int(changes.get("max_attempts", self.task.max_attempts))
        if lifecycle.is_terminal(self.status):
            self.ended_at = first.revision

    def _entry(self, event: TaskEvent) -> None:
        changes = event.changes
        before = self.status
        after = _status(changes.get("status"), before)
        if self.ended_at is not None:
            self._after_end(event, before, after)
        elif event.status is not after:
            self._untrue(event, after)
        if self.ended_at is None and after is not before and not lifecycle.can_move(before, after):
            self.violation(
                Rule.LIFECYCLE,
                (event.revision,),
                f"{event.kind} moved the task from {before.value} to {after.value}",
            )
        self._report(event, before)
        self._fold(event, after)

    def _after_end(self, event: TaskEvent, before: TaskStatus, after: TaskStatus) -> None:
        assert self.ended_at is not None
        keys = set(event.changes)
        refused = event.kind == REFUSED_KIND and keys <= {"refused"}
        settles = (
            event.kind in SETTLE_KINDS and before is TaskStatus.CANCELLED and keys <= SETTLE_KEYS
        )
        if after is not before:
            what = f"a second final state, {after.value}"
            if not lifecycle.is_terminal(after):
                what = f"{after.value} again"
            self.violation(
                Rule.ONE_END,
                (self.ended_at, event.revision),
                f"the task ended {before.value} at revision {self.ended_at}, then {what} "
                f"({event.kind})",
            )
        elif not (refused or settles):
            changed = ", ".join(sorted(keys)) or "nothing"
            self.violation(
                Rule.ONE_END,
                (self.ended_at, event.revision),
                f"{event.kind} changed {changed} after the task ended {before.value} at "
                f"revision {self.ended_at}",
            )
        elif event.status is not after:
            self._untrue(event, after)

    def _untrue(self, event: TaskEvent, after: TaskStatus) -> None:
        self.violation(
            Rule.TIMELINE,
            (event.revision,),
            f"{event.kind} says {event.status.value}, but it left the task {after.value}",
        )

    def _report(self, event: TaskEvent, before: TaskStatus) -> None:
        """An agent's report applied: from the current attempt, and (but a `running`, which
        claims it) from the agent holding it."""
        if event.kind != ChangeKind.STARTED and event.kind not in HELD_REPORTS:
            return
        reporter = event.changes.get("reported_by")
        said = reporter if isinstance(reporter, Mapping) else {}
        attempt = said.get("attempt")
        if attempt is not None and int(attempt) != self.attempt:
            self.violation(
                Rule.HOLDER,
                (event.revision,),
                f"{event.kind} of attempt {attempt} applied while the task was at attempt "
                f"{self.attempt} (a stale attempt)",
            )
        if event.kind == ChangeKind.STARTED:
            return
        if event.kind != "cancel_confirmed" and before is not TaskStatus.RUNNING:
            self.violation(
                Rule.HOLDER,
                (event.revision,),
                f"{event.kind} applied while the task was {before.value}, not running",
            )
        reporter_agent = _agent(said.get("agent_id"))
        if self.agent is None:
            self.violation(
                Rule.HOLDER,
                (event.revision,),
                f"{event.kind} applied to attempt {self.attempt}, which no agent held",
            )
        elif reporter_agent is not None and reporter_agent != self.agent:
            self.violation(
                Rule.HOLDER,
                (event.revision,),
                f"{event.kind} from agent {reporter_agent} applied; attempt {self.attempt} "
                f"was held by agent {self.agent}",
            )

    def _fold(self, event: TaskEvent, after: TaskStatus) -> None:
        changes = event.changes
        attempt = int(changes.get("attempt", self.attempt))
        if attempt != self.attempt:
            if attempt != self.attempt + 1 or after is not TaskStatus.PENDING:
                self.violation(
                    Rule.ATTEMPTS,
                    (event.revision,),
                    f"{event.kind} moved attempt {self.attempt} to {attempt} ({after.value}); "
                    "an attempt only follows the one before, as a pending retry",
                )
            if attempt > self.max_attempts:
                self.violation(
                    Rule.ATTEMPTS,
                    (event.revision,),
                    f"attempt {attempt} is above max_attempts {self.max_attempts}",
                )
        if "agent_id" in changes:
            self.agent = _agent(changes["agent_id"])
        self.attempt = attempt
        self.status = after
        if after is TaskStatus.RUNNING and self.agent is not None:
            self._runner(event)
        if lifecycle.is_terminal(after) and self.ended_at is None:
            self.ended_at = event.revision

    def _runner(self, event: TaskEvent) -> None:
        assert self.agent is not None
        first = self.runners.setdefault(self.attempt, (self.agent, event.revision))
        if first[0] != self.agent:
            self.violation(
                Rule.ONE_RUNNER,
                (first[1], event.revision),
                f"agents {first[0]} and {self.agent} both ran attempt {self.attempt}",
            )

    def _matches_task(self) -> None:
        if self.events[-1].revision != self.task.revision:
            return  # reported as a revision gap already
        task = self.task
        folded = (self.status, self.attempt, self.agent)
        stored = (task.status, task.attempt, None if task.agent_id is None else str(task.agent_id))
        if folded != stored:
            self.violation(
                Rule.TIMELINE,
                (task.revision,),
                f"the timeline folds to {_describe(*folded)} "
                f"but the task is stored as {_describe(*stored)}",
            )


def _state(task: Task, agents: Mapping[UUID, Agent], scope: AuditScope) -> list[Violation]:
    """The rules on a task as it stands now."""
    found: list[Violation] = []

    def violation(rule: str, message: str) -> None:
        found.append(Violation(task.task_id, rule, (task.revision,), message))

    status = task.status
    if status is TaskStatus.PENDING and task.waiting_reason is None:
        violation(Rule.WAITING, "the task is pending with no waiting reason")
    if status is TaskStatus.CANCELLED:
        if task.cancel_outcome is None:
            violation(Rule.CANCEL, "the task is cancelled with no cancel outcome")
        elif task.cancel_outcome is CancelOutcome.REQUESTED:
            gone = _lost(task, agents, scope)
            if gone is not None:
                violation(Rule.CANCEL, f"its cancel still waits for an answer from {gone}")
    if status is TaskStatus.RUNNING:
        if task.agent_id is None:
            violation(Rule.LOST_AGENT, "the task is running on no agent")
        else:
            gone = _lost(task, agents, scope)
            if gone is not None:
                violation(Rule.LOST_AGENT, f"the task is still running on {gone}")
    if scope.settled and not lifecycle.is_terminal(status):
        violation(Rule.UNFINISHED, f"the task is still {status.value}")
    return found


def _lost(task: Task, agents: Mapping[UUID, Agent], scope: AuditScope) -> str | None:
    """How the task's agent is lost (silent past the detection time), or None."""
    assert task.agent_id is not None
    limit = timedelta(seconds=scope.detection_s)
    agent = agents.get(task.agent_id)
    if agent is None:
        since = task.started_at or task.updated_at
        if scope.now - since > limit:
            return f"agent {task.agent_id}, which is unknown"
        return None
    silent = scope.now - agent.last_heartbeat_at
    if silent > limit:
        state = agent.status.value
        return f"agent {agent.agent_id} ({state}), silent for {silent.total_seconds():.1f}s"
    return None


def _status(value: Any, default: TaskStatus) -> TaskStatus:
    return default if value is None else TaskStatus(value)


def _agent(value: Any) -> str | None:
    return None if value is None else str(value)


def _describe(status: TaskStatus, attempt: int, agent: str | None) -> str:
    return f"{status.value} at attempt {attempt} on agent {agent or 'none'}"
