"""The history checker on hand-built histories: each rule passes a good history and catches
the violation it exists for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import attrs

from chiffon.audit import AuditScope, Rule, TaskHistory, Violation, check
from chiffon.model import (
    Agent,
    AgentStatus,
    CancelOutcome,
    Task,
    TaskEvent,
    TaskStatus,
    WaitingReason,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(minutes=5)
A, B = uuid4(), uuid4()
P, R = TaskStatus.PENDING, TaskStatus.RUNNING
SCOPE = AuditScope(NOW, detection_s=12.0)


def agent(agent_id: UUID, silent_s: float = 1.0, status: AgentStatus = AgentStatus.ONLINE) -> Agent:
    heard = NOW - timedelta(seconds=silent_s)
    return Agent(agent_id, "demo", status, (), 2, (), {}, heard)


LIVE = [agent(A), agent(B)]


class History:
    """A task's timeline built entry by entry; the task as stored follows the entries."""

    def __init__(self, max_attempts: int = 3) -> None:
        task_id = uuid4()
        self.task = Task(
            task_id=task_id,
            request_id=uuid4(),
            trace_id=uuid4(),
            work_type="echo",
            agent_type="demo",
            priority=3,
            parameters={},
            status=P,
            created_at=T0,
            updated_at=T0,
            max_attempts=max_attempts,
            waiting_reason=WaitingReason.QUEUED,
        )
        first = {"status": "pending", "attempt": 1, "agent_id": None, "max_attempts": max_attempts}
        self.events = [TaskEvent(task_id, 1, T0, "dispatched", P, first)]

    def add(self, kind: str, shown: TaskStatus, /, **changes: Any) -> History:
        revision = len(self.events) + 1
        at = T0 + timedelta(seconds=revision)
        self.events.append(TaskEvent(self.task.task_id, revision, at, kind, shown, changes))
        fields: dict[str, Any] = {"revision": revision, "updated_at": at}
        for name, value in changes.items():
            if name == "status":
                fields["status"] = TaskStatus(value)
            elif name == "attempt":
                fields["attempt"] = value
            elif name == "agent_id":
                fields["agent_id"] = None if value is None else UUID(value)
                fields["started_at"] = at
            elif name == "cancel_outcome":
                fields["cancel_outcome"] = CancelOutcome(value)
            elif name == "waiting_reason":
                fields["waiting_reason"] = None if value is None else WaitingReason(value)
        self.task = attrs.evolve(self.task, **fields)
        return self

    def start(self, by: UUID, attempt: int = 1) -> History:
        said = {"attempt": attempt, "agent_id": str(by)}
        return self.add(
            "started", R, status="running", agent_id=str(by), waiting_reason=None, reported_by=said
        )

    def progress(self, by: UUID, attempt: int = 1) -> History:
        said = {"attempt": attempt, "agent_id": str(by)}
        return self.add("progress", R, progress_percent=50, reported_by=said)

    def finish(self, by: UUID, attempt: int = 1, status: str = "completed") -> History:
        said = {"attempt": attempt, "agent_id": str(by)}
        return self.add("finished", TaskStatus(status), status=status, reported_by=said)

    def retry(self, to: int) -> History:
        return self.add(
            "retried", P, status="pending", attempt=to, agent_id=None, waiting_reason="queued"
        )

    def cancel(self, outcome: str) -> History:
        return self.add(
            "cancelled", TaskStatus.CANCELLED, status="cancelled", cancel_outcome=outcome
        )

    def history(self) -> TaskHistory:
        return TaskHistory(self.task, tuple(self.events))


def rules(*histories: History | TaskHistory, agents: list[Agent] = LIVE, **scope: Any) -> list[str]:
    found = violations(*histories, agents=agents, **scope)
    return [v.rule for v in found]


def violations(
    *histories: History | TaskHistory, agents: list[Agent] = LIVE, **scope: Any
) -> list[Violation]:
    built = [h.history() if isinstance(h, History) else h for h in histories]
    return check(built, agents, attrs.evolve(SCOPE, **scope))


def test_good_histories_have_no_violation() -> None:
    done = History().start(A).progress(A).finish(A)
    retried = History().start(A).retry(2).start(B, 2).finish(B, 2)
    refused_late = History().start(A).finish(A)
    refused = {"report": "finished", "agent_id": str(B), "attempt": 1, "reason": "not the holder"}
    refused_late.add("report_refused", TaskStatus.COMPLETED, refused=refused)
    cancelled = History().start(A).cancel("requested")
    confirmed = {"attempt": 1, "agent_id": str(A)}
    cancelled.add(
        "cancel_confirmed",
        TaskStatus.CANCELLED,
        status="cancelled",
        cancel_outcome="stopped",
        reported_by=confirmed,
    )
    waiting = History()
    running = History().start(A).progress(A)
    assert violations(done, retried, refused_late, cancelled, waiting, running) == []


def test_a_gap_in_the_revisions_is_caught() -> None:
    h = History().start(A).finish(A)
    gap = TaskHistory(h.task, (h.events[0], h.events[2]))
    found = violations(gap)
    assert Rule.REVISIONS in [v.rule for v in found]
    assert found[0].revisions == (1, 3)


def test_a_timeline_short_of_the_task_revision_is_caught() -> None:
    h = History().start(A).finish(A)
    short = TaskHistory(h.task, tuple(h.events[:2]))
    assert Rule.REVISIONS in rules(short)


def test_a_change_after_the_final_state_is_caught() -> None:
    h = History().start(A).finish(A).progress(A)
    found = violations(h)
    assert found[0].rule == Rule.ONE_END
    assert found[0].revisions == (3, 4)
    assert "after the task ended completed" in found[0].message


def test_a_second_final_state_is_caught() -> None:
    h = History().start(A).finish(A).finish(A, status="failed")
    found = violations(h)
    assert Rule.ONE_END in [v.rule for v in found]
    assert any("a second final state, failed" in v.message for v in found)


def test_a_move_the_lifecycle_forbids_is_caught() -> None:
    h = History().start(A).add("oops", P, status="pending")  # running -> pending, same attempt
    assert Rule.LIFECYCLE not in rules(h)  # allowed by the table (a retry)...
    h2 = History().add("finished", TaskStatus.COMPLETED, status="completed")
    assert Rule.HOLDER in rules(h2)  # ...but a result nobody ran is caught


def test_attempts_above_max_attempts_are_caught() -> None:
    h = History(max_attempts=2).start(A).retry(2).start(B, 2).retry(3)
    found = violations(h)
    assert [v.rule for v in found] == [Rule.ATTEMPTS]
    assert "attempt 3 is above max_attempts 2" in found[0].message


def test_an_attempt_that_skips_is_caught() -> None:
    h = History(max_attempts=5).start(A).retry(3)
    assert rules(h) == [Rule.ATTEMPTS]


def test_a_result_from_a_stale_attempt_is_caught() -> None:
    h = History().start(A).retry(2).start(B, 2).finish(B, attempt=1)
    found = violations(h)
    assert [v.rule for v in found] == [Rule.HOLDER]
    assert "finished of attempt 1 applied while the task was at attempt 2" in found[0].message
    assert found[0].revisions == (5,)


def test_a_report_from_an_agent_not_holding_the_attempt_is_caught() -> None:
    h = History().start(A).progress(B)
    found = violations(h)
    assert [v.rule for v in found] == [Rule.HOLDER]
    assert f"from agent {B}" in found[0].message and f"held by agent {A}" in found[0].message


def test_a_result_for_an_attempt_nobody_held_is_caught() -> None:
    h = History().start(A).retry(2).add("finished", P, reported_by={"attempt": 2})
    assert Rule.HOLDER in rules(h)


def test_two_agents_running_one_attempt_are_caught() -> None:
    h = History().start(A).start(B)
    found = violations(h)
    assert Rule.ONE_RUNNER in [v.rule for v in found]
    assert next(v for v in found if v.rule == Rule.ONE_RUNNER).revisions == (2, 3)


def test_a_cancel_without_outcome_is_caught() -> None:
    h = History().add("cancelled", TaskStatus.CANCELLED, status="cancelled")
    assert rules(h) == [Rule.CANCEL]


def test_a_cancel_waiting_on_a_lost_agent_is_caught() -> None:
    h = History().start(A).cancel("requested")
    assert rules(h) == []
    assert rules(h, agents=[agent(A, silent_s=60, status=AgentStatus.OFFLINE)]) == [Rule.CANCEL]


def test_a_pending_task_without_a_waiting_reason_is_caught() -> None:
    h = History()
    h.task = attrs.evolve(h.task, waiting_reason=None)
    assert rules(h) == [Rule.WAITING]


def test_a_task_running_on_a_silent_agent_is_caught() -> None:
    h = History().start(A)
    assert rules(h, agents=[agent(A, silent_s=11)]) == []
    lost = violations(h, agents=[agent(A, silent_s=13, status=AgentStatus.OFFLINE)])
    assert [v.rule for v in lost] == [Rule.LOST_AGENT]
    assert "offline" in lost[0].message and "13.0s" in lost[0].message
    # An agent the registry never marked offline, but silent as long, is lost all the same.
    assert rules(h, agents=[agent(A, silent_s=13)]) == [Rule.LOST_AGENT]
    assert rules(h, agents=[]) == [Rule.LOST_AGENT]  # unknown, started minutes ago


def test_a_settled_history_requires_every_task_ended() -> None:
    assert rules(History().start(A).finish(A), settled=True) == []
    assert rules(History(), settled=True) == [Rule.UNFINISHED]


def test_a_timeline_that_disagrees_with_the_task_is_caught() -> None:
    h = History().start(A)
    h.task = attrs.evolve(h.task, status=TaskStatus.COMPLETED)
    found = violations(h)
    assert [v.rule for v in found] == [Rule.TIMELINE]
    assert "folds to running at attempt 1" in found[0].message


def test_an_entry_whose_status_is_not_the_task_is_caught() -> None:
    h = History().start(A).cancel("requested")
    h.add("cancel_confirmed", R, cancel_outcome="stopped")  # says running: the old bug
    assert Rule.TIMELINE in rules(h)


def test_a_violation_reads_as_one_line() -> None:
    h = History().start(A).finish(A).progress(A)
    line = str(violations(h)[0])
    assert line.startswith(f"task {h.task.task_id} [one_terminal_state] revisions 3, 4: ")
