"""The typed changes against the one lifecycle table: what each makes of a task, and what
each refuses, decided in one pure function."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import attrs
import pytest

from chiffon import lifecycle
from chiffon.changes import (
    Accepted,
    CancelTask,
    Change,
    Fail,
    Finish,
    Progress,
    Refused,
    Retry,
    SettleCancel,
    Start,
    TimeOut,
    decide,
    dispatched,
    refused,
)
from chiffon.model import CancelOutcome, ResultStatus, TaskStatus
from chiffon.patch import TaskPatch
from tests.contract.store.builders import T0, make_task

S = TaskStatus
AGENT = uuid4()
NOW = T0 + timedelta(seconds=5)


def every_change() -> list[Change]:
    return [
        Start(AGENT, 1),
        Progress(AGENT, 1, 50, "half"),
        Finish(1, ResultStatus.COMPLETED, AGENT, "out", {"r": 1}),
        Finish(1, ResultStatus.FAILED, AGENT),
        Retry(1),
        Fail(1, "lost"),
        CancelTask(),
        TimeOut(),
    ]


@pytest.mark.parametrize("status", list(TaskStatus))
def test_every_change_applies_exactly_where_the_table_allows(status: TaskStatus) -> None:
    held_by = None if status is S.PENDING else AGENT  # agent reports come from the holder
    task = make_task(status=status, timeout_s=1.0, agent_id=held_by)
    for change in every_change():
        decision = decide(task, change, NOW)
        allowed = status in change.sources(None)
        assert isinstance(decision, Accepted) is allowed, (status, change)
        if isinstance(decision, Accepted):
            assert decision.task.revision == task.revision + 1
            target = change.target(None) or status
            assert decision.task.status is target
            assert lifecycle.can_move(status, target) or change.target(None) is None


def test_nothing_leaves_a_final_status() -> None:
    for status in lifecycle.TERMINAL:
        task = make_task(status=status)
        assert all(isinstance(decide(task, c, NOW), Refused) for c in every_change())


def test_agent_reports_of_another_attempt_are_refused() -> None:
    task = make_task(status=S.RUNNING, attempt=2)
    for change in (
        Progress(AGENT, 1, 10, None),
        Finish(1, ResultStatus.COMPLETED, AGENT),
        Retry(1),
    ):
        refused = decide(task, change, NOW)
        assert isinstance(refused, Refused) and "attempt 1" in refused.reason


def test_what_each_change_sets() -> None:
    running = make_task(status=S.RUNNING, agent_id=AGENT, started_at=T0, progress_percent=40)
    retried = decide(running, Retry(1), NOW)
    assert isinstance(retried, Accepted)
    assert (retried.task.status, retried.task.attempt, retried.task.agent_id) == (
        S.PENDING,
        2,
        None,
    )
    assert retried.task.progress_percent is None and retried.task.started_at is None
    done = decide(running, Finish(1, ResultStatus.COMPLETED, AGENT, "x" * 70_000, 3), NOW)
    assert isinstance(done, Accepted)
    assert done.task.progress_percent == 100 and done.task.finished_at == NOW
    assert done.task.output is not None and len(done.task.output) == 64 * 1024
    failed = decide(running, Finish(1, ResultStatus.FAILED, AGENT), NOW)
    assert isinstance(failed, Accepted) and failed.task.error_message
    progress = decide(running, Progress(AGENT, 1, 250, "m" * 5000), NOW)
    assert isinstance(progress, Accepted) and progress.task.progress_percent == 100
    assert (
        progress.task.progress_message is not None and len(progress.task.progress_message) == 1000
    )
    timed = decide(attrs.evolve(running, timeout_s=2.5), TimeOut(), NOW)
    assert isinstance(timed, Accepted) and timed.task.error_message == "timed out after 2.5s"


def test_a_result_on_a_pending_task_starts_it_first() -> None:
    pending = make_task()
    finish = Finish(1, ResultStatus.COMPLETED, AGENT)
    assert finish.prerequisite(pending) == Start(AGENT, 1)
    assert finish.prerequisite(attrs.evolve(pending, attempt=2)) is None
    assert finish.prerequisite(make_task(status=S.RUNNING)) is None


def test_timeline_entries_hold_json_values() -> None:
    task = make_task(status=S.PENDING)
    first = dispatched(task)
    assert first.kind == "dispatched" and first.status is S.PENDING
    assert first.changes["task_id"] == str(task.task_id)
    assert first.changes["created_at"] == task.created_at.isoformat()
    assert "parameters" not in first.changes
    started = decide(task, Start(AGENT, 1), NOW)
    assert isinstance(started, Accepted)
    assert started.event.changes == {
        "status": "running",
        "agent_id": str(AGENT),
        "started_at": NOW.isoformat(),
        "next_attempt_at": None,
        "waiting_reason": None,
        "waiting_until": None,
        "updated_at": NOW.isoformat(),
        # which agent's report about which attempt: no task field, for the history checker
        "reported_by": {"attempt": 1, "agent_id": str(AGENT)},
    }


def test_a_settled_cancel_is_recorded_as_still_cancelled() -> None:
    # Found by the fault campaign: the settlement's timeline entry said `running`, so a
    # history read back showed the task leaving its end state.
    running = make_task(status=S.RUNNING, agent_id=AGENT, started_at=T0)
    cancelled = decide(running, CancelTask(), NOW)
    assert isinstance(cancelled, Accepted)
    stopped = Finish(1, ResultStatus.CANCELLED, AGENT)
    for finish in (stopped, Finish(1, ResultStatus.COMPLETED, AGENT), None):
        settled = decide(cancelled.task, SettleCancel(1, finish), NOW)
        assert isinstance(settled, Accepted), settled
        assert (settled.task.status, settled.event.status) == (S.CANCELLED, S.CANCELLED)


def test_the_agents_time_out_ends_a_task_as_the_deadline_does() -> None:
    running = make_task(status=S.RUNNING, agent_id=AGENT, started_at=T0, timeout_s=0.5)
    by_agent = decide(running, Finish(1, ResultStatus.TIMED_OUT, AGENT, duration_ms=500), NOW)
    by_deadline = decide(running, TimeOut(), NOW)
    assert isinstance(by_agent, Accepted) and isinstance(by_deadline, Accepted)
    ends = [
        (d.task.status, d.task.error_message, d.task.exit_code) for d in (by_agent, by_deadline)
    ]
    assert ends == [(S.TIMED_OUT, "timed out after 0.5s", 124)] * 2
    retrying = attrs.evolve(running, retry_on=("timed_out",), max_attempts=2)
    again = decide(retrying, Finish(1, ResultStatus.TIMED_OUT, AGENT), NOW)
    assert isinstance(again, Accepted)
    assert (again.task.status, again.task.attempt) == (S.PENDING, 2)
    assert again.task.deadline_at == NOW + timedelta(seconds=0.5)  # a new deadline


def test_only_the_holder_of_the_current_attempt_may_report() -> None:
    other = uuid4()
    running = make_task(status=S.RUNNING, agent_id=AGENT, attempt=2)
    waiting = make_task(attempt=2, next_attempt_at=NOW + timedelta(seconds=1))
    cases = [
        (running, Progress(AGENT, 2, 5, None), None),
        (running, Progress(other, 2, 5, None), f"attempt 2 is held by agent {AGENT}"),
        (
            running,
            Finish(1, ResultStatus.COMPLETED, AGENT),
            "attempt 1 is not the current attempt (2)",
        ),
        (waiting, Start(other, 2), "attempt 2 is not sent before"),
        (attrs.evolve(waiting, next_attempt_at=NOW), Start(other, 2), None),  # the first claims it
        (
            make_task(status=S.FAILED, attempt=2),
            Finish(2, ResultStatus.COMPLETED, AGENT),
            "attempt 2 is held by no agent",
        ),
    ]
    for task, change, why in cases:
        decision = decide(task, change, NOW)
        if why is None:
            assert isinstance(decision, Accepted), (change, decision)
        else:
            assert isinstance(decision, Refused) and decision.foreign == change.report()
            assert decision.reason.startswith(why), decision.reason
    entry = refused(running, Progress(other, 2, 5, None).report(), "why", NOW)
    assert (entry.task.revision, entry.task.status, entry.patch) == (
        running.revision + 1,
        S.RUNNING,
        TaskPatch(),
    )
    assert entry.event.kind == "report_refused"
    assert entry.event.changes == {
        "refused": {"report": "progress", "agent_id": str(other), "attempt": 2, "reason": "why"}
    }


def test_a_stop_nobody_asked_for_is_the_loss_policys_never_a_cancel() -> None:
    # Found by the simulation: an agent that stopped an attempt on its own (a stop meant for
    # another attempt) ended the task `cancelled` with no cancel behind it.
    running = make_task(status=S.RUNNING, agent_id=AGENT, started_at=T0, max_attempts=1)
    stopped = Finish(1, ResultStatus.CANCELLED, AGENT)
    assert stopped.unread(NOW) is None  # it depends on whether anyone asked
    failed = decide(running, stopped, NOW)
    assert isinstance(failed, Accepted)
    assert (failed.task.status, failed.task.cancel_outcome) == (S.FAILED, None)
    assert failed.task.error_message == (
        f"agent {AGENT} stopped attempt 1 though the task was not cancelled"
    )
    retried = decide(attrs.evolve(running, max_attempts=3), stopped, NOW)
    assert isinstance(retried, Accepted)
    assert (retried.task.status, retried.task.attempt) == (S.PENDING, 2)
    # Asked for, it settles the cancel (the task is cancelled before the agent's word).
    cancelled = decide(running, CancelTask(), NOW)
    assert isinstance(cancelled, Accepted)
    assert isinstance(decide(cancelled.task, stopped, NOW), Refused)


def test_a_result_for_a_cancel_that_waits_for_it_settles_the_cancel_in_one_step() -> None:
    running = make_task(status=S.RUNNING, agent_id=AGENT, started_at=T0)
    cancelled = decide(running, CancelTask(), NOW)
    assert isinstance(cancelled, Accepted)
    stopped = Finish(1, ResultStatus.CANCELLED, AGENT)
    assert stopped.replacement(running) is None  # not cancelled: the result itself applies
    settle = stopped.replacement(cancelled.task)
    assert settle == SettleCancel(1, stopped)
    settled = decide(cancelled.task, settle, NOW)
    assert isinstance(settled, Accepted) and settled.event.kind == "cancel_confirmed"
    assert settled.task.cancel_outcome is CancelOutcome.STOPPED
    assert stopped.replacement(settled.task) is None  # settled: a repeat is refused as before
    # Only the attempt's holder says how its cancel ended; anyone else's word is refused.
    other = Finish(1, ResultStatus.CANCELLED, uuid4())
    foreign = other.replacement(cancelled.task)
    assert foreign is not None
    refused_settle = decide(cancelled.task, foreign, NOW)
    assert isinstance(refused_settle, Refused) and refused_settle.foreign == other.report()
