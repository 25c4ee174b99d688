"""Concurrency slots in the store: who waits, who gets the next slot, admission under the
limit (also with many admissions of one key at once), and slots freed as tasks move on; the
same on memory and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

from chiffon.changes import dispatched
from chiffon.json_values import json_fields
from chiffon.model import CancelOutcome, EventDraft, Task, TaskStatus, WaitingReason
from chiffon.patch import TaskPatch
from ports.task_repository import Admission, TaskFilter, TaskRepository
from tests.contract.store.builders import at, make_task, work_message

S = TaskStatus
W = WaitingReason


def waiting(created_s: float = 0, key: str = "db-1", max_running: int = 1, **kw: Any) -> Task:
    return make_task(
        created_s,
        concurrency_key=key,
        concurrency_max_running=max_running,
        waiting_reason=W.CONCURRENCY_LIMIT,
        **kw,
    )


async def stored(repo: TaskRepository, *tasks: Task) -> None:
    for task in tasks:
        assert (await repo.create(task, dispatched(task), []))[1]


async def admit(repo: TaskRepository, task: Task, now_s: float = 50) -> Admission:
    now = at(now_s)
    patch = TaskPatch(admitted_at=now, waiting_reason=W.QUEUED, updated_at=now)
    event = EventDraft("admitted", now, S.PENDING, json_fields(patch.values()))
    return await repo.admit(task, patch, event, [work_message(patch.applied_to(task), now_s)])


async def move(repo: TaskRepository, task: Task, **fields: Any) -> Task:
    current = await repo.get(task.task_id)
    assert current is not None
    patch = TaskPatch(**fields)
    status = fields.get("status", current.status)
    note = EventDraft("moved", at(60), status, json_fields(patch.values()))
    moved = await repo.apply(task.task_id, current.revision, patch, note)
    assert moved is not None
    return moved


async def test_the_next_slot_goes_to_the_highest_priority_then_the_oldest(
    repo: TaskRepository,
) -> None:
    old_low = waiting(0, priority=1)
    high = waiting(2, priority=5)
    old_mid, new_mid = waiting(1, priority=3), waiting(3, priority=3)
    later = waiting(4, priority=5, next_attempt_at=at(100))  # not due yet
    other = waiting(0, key="db-2", priority=5)
    await stored(repo, old_low, high, new_mid, old_mid, later, other)
    order = []
    while (task := await repo.next_waiting("db-1", at(10))) is not None:
        order.append(task.task_id)
        assert (await admit(repo, task)).task is not None
        await move(repo, task, status=S.CANCELLED, cancel_outcome=CancelOutcome.NOT_STARTED)
    assert order == [high.task_id, old_mid.task_id, new_mid.task_id, old_low.task_id]
    assert (await repo.next_waiting("db-1", at(100))) == later
    assert await repo.waiting_keys(at(10)) == ["db-2"]
    assert await repo.waiting_keys(at(100)) == ["db-1", "db-2"]


async def test_admission_takes_a_free_slot_and_refuses_past_the_limit(
    repo: TaskRepository,
) -> None:
    first, second = waiting(0), waiting(1)
    await stored(repo, first, second)
    done = await admit(repo, first)
    assert done.task is not None and not done.full
    assert (done.task.admitted_at, done.task.revision) == (at(50), 2)
    assert [e.kind for e in await repo.events(first.task_id)] == ["dispatched", "admitted"]
    assert await admit(repo, second) == Admission(None, full=True)
    assert (await repo.get(second.task_id)) == second  # nothing changed
    assert await repo.waiting_keys(at(10)) == []  # second waits, but db-1 is full
    assert await admit(repo, first) == Admission(None, full=True)  # (full is checked first)
    assert await repo.next_waiting("db-1", at(10)) == second


async def test_a_stale_copy_is_not_admitted(repo: TaskRepository) -> None:
    task = waiting(0, max_running=2)
    await stored(repo, task)
    moved = await move(repo, task, waiting_reason=W.CONCURRENCY_LIMIT, updated_at=at(5))
    assert await admit(repo, task) == Admission(None)  # read at revision 1, now 2
    assert (await admit(repo, moved)).task is not None


async def test_a_slot_is_held_while_active_or_awaiting_a_cancel_s_answer(
    repo: TaskRepository,
) -> None:
    first, second = waiting(0), waiting(1)
    await stored(repo, first, second)
    await admit(repo, first)
    await move(repo, first, status=S.RUNNING, agent_id=first.task_id, started_at=at(51))
    await move(repo, first, status=S.PENDING, attempt=2, agent_id=None)  # a retry keeps it
    assert (await admit(repo, second)).full
    await move(repo, first, status=S.RUNNING, agent_id=first.task_id)
    await move(repo, first, status=S.CANCELLED, cancel_outcome=CancelOutcome.REQUESTED)
    assert (await admit(repo, second)).full  # its handler may still run
    assert await repo.waiting_keys(at(100)) == []
    await move(repo, first, cancel_outcome=CancelOutcome.STOPPED)
    assert await repo.waiting_keys(at(100)) == ["db-1"]  # the slot is free
    assert (await admit(repo, second)).task is not None


async def test_many_admissions_of_one_key_at_once_stay_within_the_limit(
    repo: TaskRepository,
) -> None:
    tasks = [waiting(i, max_running=3) for i in range(12)]
    await stored(repo, *tasks)
    outcomes = await asyncio.gather(*(admit(repo, t) for t in tasks))
    assert sum(o.task is not None for o in outcomes) == 3
    assert sum(o.full for o in outcomes) == 9


async def test_waiting_tasks_have_no_work_to_resend_and_keep_their_reason(
    repo: TaskRepository,
) -> None:
    held, free = waiting(0, agent_type="gpu"), make_task(1, agent_type="gpu")
    await stored(repo, held, free)
    assert [t.task_id for t in await repo.pending_without_work()] == [free.task_id]
    changed = await repo.reconcile_waiting("gpu", W.QUEUED, at(10))
    assert [t.task_id for t in changed] == [free.task_id]  # held stays concurrency_limit
    still = await repo.get(held.task_id)
    assert still is not None and still.waiting_reason is W.CONCURRENCY_LIMIT


async def test_tasks_are_listed_by_their_concurrency_key(repo: TaskRepository) -> None:
    older, newer, other = waiting(0), waiting(5), waiting(3, key="db-2")
    await stored(repo, older, newer, other, make_task(4))
    page = await repo.page(TaskFilter(concurrency_key="db-1"), 10, None)
    assert [t.task_id for t in page.items] == [newer.task_id, older.task_id]
    both = TaskFilter(concurrency_key="db-2", waiting_reason=W.CONCURRENCY_LIMIT)
    assert [t.task_id for t in (await repo.page(both, 10, None)).items] == [other.task_id]
