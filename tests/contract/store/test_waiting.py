"""reconcile_waiting and awaiting_cancel: the same rule on memory and PostgreSQL."""

from __future__ import annotations

from uuid import uuid4

from chiffon.changes import dispatched
from chiffon.model import CancelOutcome, TaskStatus, WaitingReason
from chiffon.waiting import reason_for
from ports.task_repository import TaskFilter, TaskRepository
from tests.contract.store.builders import at, make_task

W = WaitingReason


async def test_reconcile_sets_the_rule_s_reasons_and_only_changes_what_differs(
    repo: TaskRepository,
) -> None:
    due = make_task(0, agent_type="gpu")
    scheduled = make_task(1, agent_type="gpu", next_attempt_at=at(100))
    backoff = make_task(2, agent_type="gpu", attempt=2, next_attempt_at=at(100))
    other_type = make_task(3, agent_type="cpu")
    running = make_task(4, agent_type="gpu", status=TaskStatus.RUNNING)
    for task in (due, scheduled, backoff, other_type, running):
        await repo.create(task, dispatched(task), [])
    changed = await repo.reconcile_waiting("gpu", W.NO_AGENT, at(10))
    assert {t.task_id for t in changed} == {due.task_id, scheduled.task_id, backoff.task_id}
    got = {t.task_id: (t.waiting_reason, t.waiting_until, t.revision) for t in changed}
    assert got[due.task_id] == (W.NO_AGENT, None, 2)
    assert got[scheduled.task_id] == (W.SCHEDULED, at(100), 2)
    assert got[backoff.task_id] == (W.RETRY_BACKOFF, at(100), 2)
    assert await repo.reconcile_waiting("gpu", W.NO_AGENT, at(11)) == []  # nothing differs
    again = await repo.reconcile_waiting("gpu", W.QUEUED, at(200))  # all due now, agents came
    assert {t.waiting_reason for t in again} == {W.QUEUED} and len(again) == 3
    [event] = await repo.events(due.task_id, after=2)
    assert (event.kind, event.changes["waiting_reason"]) == ("waiting", "queued")
    assert event.changes["updated_at"] == at(200).isoformat()
    listed = await repo.page(TaskFilter(waiting_reason=W.QUEUED), 10, None)
    assert len(listed.items) == 3
    assert (await repo.get(other_type.task_id)) == other_type


async def test_the_store_follows_the_domain_s_rule_in_every_case(repo: TaskRepository) -> None:
    """The SQL is written from chiffon.waiting.WAITING_RULE: every case (first or later
    attempt; next attempt none, past, now or later) gives what `reason_for` gives."""
    now = at(50)
    tasks = [
        make_task(i, agent_type="gpu", attempt=attempt, next_attempt_at=next_at)
        for i, (attempt, next_at) in enumerate(
            (attempt, next_at) for attempt in (1, 2, 3) for next_at in (None, at(10), now, at(100))
        )
    ]
    for task in tasks:
        await repo.create(task, dispatched(task), [])
    changed = {t.task_id: t for t in await repo.reconcile_waiting("gpu", W.AGENTS_BUSY, now)}
    for task in tasks:
        got = changed[task.task_id]
        assert (got.waiting_reason, got.waiting_until) == reason_for(task, W.AGENTS_BUSY, now)


async def test_reconcile_is_bounded_per_call_oldest_first(repo: TaskRepository) -> None:
    """A big backlog catches up over several calls: each writes (and pushes) at most `limit`."""
    tasks = [make_task(i, agent_type="gpu") for i in range(7)]
    for task in reversed(tasks):
        await repo.create(task, dispatched(task), [])
    first = await repo.reconcile_waiting("gpu", W.NO_AGENT, at(10), limit=3)
    assert {t.task_id for t in first} == {t.task_id for t in tasks[:3]}
    second = await repo.reconcile_waiting("gpu", W.NO_AGENT, at(10), limit=3)
    assert {t.task_id for t in second} == {t.task_id for t in tasks[3:6]}
    assert len(await repo.reconcile_waiting("gpu", W.NO_AGENT, at(10), limit=3)) == 1
    assert await repo.reconcile_waiting("gpu", W.NO_AGENT, at(10), limit=3) == []


async def test_awaiting_cancel_lists_the_agent_s_unsettled_cancels(repo: TaskRepository) -> None:
    agent = uuid4()
    waiting = make_task(0, status=TaskStatus.CANCELLED, agent_id=agent,
                        cancel_outcome=CancelOutcome.REQUESTED)  # fmt: skip
    settled = make_task(1, status=TaskStatus.CANCELLED, agent_id=agent,
                        cancel_outcome=CancelOutcome.STOPPED)  # fmt: skip
    elsewhere = make_task(2, status=TaskStatus.CANCELLED, agent_id=uuid4(),
                          cancel_outcome=CancelOutcome.REQUESTED)  # fmt: skip
    for task in (waiting, settled, elsewhere):
        await repo.create(task, dispatched(task), [])
    assert await repo.awaiting_cancel(agent) == [waiting]


async def test_calls_with_the_same_due_reason_still_see_time_pass_and_new_writes(
    repo: TaskRepository,
) -> None:
    """The sweep's usual case, one due reason call after call: a scheduled task that comes due
    and a task written since with another reason are still brought up to date."""
    waiting = make_task(0, agent_type="gpu", next_attempt_at=at(100))
    await repo.create(waiting, dispatched(waiting), [])
    [first] = await repo.reconcile_waiting("gpu", W.NO_AGENT, at(10))
    assert (first.waiting_reason, first.waiting_until) == (W.SCHEDULED, at(100))
    assert await repo.reconcile_waiting("gpu", W.NO_AGENT, at(20)) == []  # still scheduled
    later = make_task(1, agent_type="gpu", waiting_reason=W.QUEUED)  # an older reason
    await repo.create(later, dispatched(later), [])
    changed = await repo.reconcile_waiting("gpu", W.NO_AGENT, at(150))  # the schedule is due
    got = {t.task_id: (t.waiting_reason, t.waiting_until) for t in changed}
    assert got == {waiting.task_id: (W.NO_AGENT, None), later.task_id: (W.NO_AGENT, None)}
    assert await repo.reconcile_waiting("gpu", W.NO_AGENT, at(151)) == []
