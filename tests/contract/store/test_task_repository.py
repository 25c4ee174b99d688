"""Contract of TaskRepository: the same suite over the in-memory twin and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import uuid4

import attrs
import pytest

from chiffon.changes import dispatched
from chiffon.lifecycle import sources_of
from chiffon.model import EventDraft, OutboxMessage, TaskStatus
from chiffon.patch import ReportGuard, TaskPatch
from ports.task_repository import TaskFilter, TaskRepository
from tests.contract.store.builders import at, cancel_message, make_task, work_message

RUNNING = frozenset({TaskStatus.RUNNING})


async def drain(repo: TaskRepository, limit: int = 100) -> list[OutboxMessage]:
    sent: list[OutboxMessage] = []

    async def publish(batch: Any) -> None:
        sent.extend(batch)

    while await repo.relay_outbox(publish, limit):
        pass
    return sent


async def test_create_then_get_returns_an_equal_copy(repo: TaskRepository) -> None:
    task = make_task(timeout_s=2.5, deadline_at=at(2.5), max_attempts=5, priority=5)
    stored, created = await repo.create(task, dispatched(task), [])
    assert created is True
    assert stored == task
    fetched = await repo.get(task.task_id)
    assert fetched == task
    assert fetched is not None
    fetched.parameters["text"] = "changed"  # a copy: the store is not affected
    assert await repo.get(task.task_id) == task


async def test_create_is_idempotent_on_task_id(repo: TaskRepository) -> None:
    task = make_task()
    first = work_message(task)
    await repo.create(task, dispatched(task), [first])
    other = attrs.evolve(task, work_type="sleep", request_id=uuid4())
    stored, created = await repo.create(other, dispatched(other), [work_message(other, 1)])
    assert (stored, created) == (task, False)
    assert await repo.get(task.task_id) == task
    assert [m.message_id for m in await drain(repo)] == [first.message_id]


async def test_a_used_request_id_stores_nothing_and_returns_its_task(
    repo: TaskRepository,
) -> None:
    task = make_task()
    await repo.create(task, dispatched(task), [work_message(task)])
    twin = make_task(1, request_id=task.request_id)
    stored, created = await repo.create(twin, dispatched(twin), [work_message(twin, 1)])
    assert (stored, created) == (task, False)  # its task_id tells the caller it is another's
    assert await repo.get(twin.task_id) is None
    assert len(await drain(repo)) == 1
    # In one batch too (PostgreSQL commits concurrent creates together).
    a, b = make_task(2), make_task(3)
    b = attrs.evolve(b, request_id=a.request_id)
    answers = await asyncio.gather(
        repo.create(a, dispatched(a), []), repo.create(b, dispatched(b), [])
    )
    assert answers == [(a, True), (a, False)]


async def test_get_missing_returns_none(repo: TaskRepository) -> None:
    assert await repo.get(uuid4()) is None


@pytest.mark.parametrize(
    "result", [None, {"a": None}, [1, "two", None], "null", "", 0, False, 1.5, {}]
)
async def test_result_json_round_trips(repo: TaskRepository, result: Any) -> None:
    task = make_task(status=TaskStatus.RUNNING)
    await repo.create(task, dispatched(task), [])
    done = await repo.apply(task.task_id, 1, TaskPatch(result=result), note())
    assert done is not None and done.result == result
    fetched = await repo.get(task.task_id)
    assert fetched is not None and fetched.result == result
    assert type(fetched.result) is type(result)


async def test_page_is_newest_first_with_ties_broken_by_task_id(repo: TaskRepository) -> None:
    tasks = [make_task(created_s=s) for s in (1, 3, 2, 3, 0)]
    for task in tasks:
        await repo.create(task, dispatched(task), [])
    page = await repo.page(TaskFilter(), 10, None)
    expected = sorted(tasks, key=lambda t: (t.created_at, t.task_id), reverse=True)
    assert list(page.items) == expected
    assert page.next_cursor is None


async def test_a_light_page_leaves_the_bulky_values_out(repo: TaskRepository) -> None:
    task = make_task(
        1, parameters={"big": "x" * 1000}, result={"r": 1}, output="out", progress_percent=40
    )
    await repo.create(task, dispatched(task), [])
    light = (await repo.page(TaskFilter(), 10, None, light=True)).items
    assert light == (attrs.evolve(task, parameters={}, result=None, output=None),)
    assert (await repo.page(TaskFilter(), 10, None)).items == (task,)


async def test_page_filters(repo: TaskRepository) -> None:
    trace = uuid4()
    a = make_task(1, work_type="metrics", agent_type="desktop", trace_id=trace)
    b = make_task(2, status=TaskStatus.RUNNING, trace_id=trace)
    c = make_task(3, status=TaskStatus.RUNNING, work_type="metrics", agent_type="desktop")
    for task in (a, b, c):
        await repo.create(task, dispatched(task), [])

    async def ids(flt: TaskFilter) -> list[Any]:
        return [t.task_id for t in (await repo.page(flt, 10, None)).items]

    assert await ids(TaskFilter(status=TaskStatus.RUNNING)) == [c.task_id, b.task_id]
    assert await ids(TaskFilter(work_type="metrics")) == [c.task_id, a.task_id]
    assert await ids(TaskFilter(agent_type="demo")) == [b.task_id]
    assert await ids(TaskFilter(trace_id=trace)) == [b.task_id, a.task_id]
    assert await ids(TaskFilter(status=TaskStatus.RUNNING, work_type="metrics")) == [c.task_id]
    assert await ids(TaskFilter(status=TaskStatus.FAILED)) == []


async def test_next_cursor_only_when_more_rows_exist(repo: TaskRepository) -> None:
    tasks = [make_task(created_s=s) for s in range(4)]
    for task in tasks:
        await repo.create(task, dispatched(task), [])
    exact = await repo.page(TaskFilter(), 4, None)
    assert len(exact.items) == 4 and exact.next_cursor is None
    first = await repo.page(TaskFilter(), 3, None)
    assert [t.task_id for t in first.items] == [t.task_id for t in tasks[:0:-1]]
    assert first.next_cursor is not None
    assert first.next_cursor.task_id == tasks[1].task_id
    last = await repo.page(TaskFilter(), 3, first.next_cursor)
    assert [t.task_id for t in last.items] == [tasks[0].task_id]
    assert last.next_cursor is None


async def test_cursor_is_stable_when_newer_tasks_arrive(repo: TaskRepository) -> None:
    tasks = [make_task(created_s=s) for s in range(5)]
    for task in tasks:
        await repo.create(task, dispatched(task), [])
    page = await repo.page(TaskFilter(), 2, None)
    assert page.next_cursor is not None
    mark = (page.next_cursor.created_at, page.next_cursor.task_id)
    seen = [t.task_id for t in page.items]
    for s in (10, 11, 2):  # newer tasks, and one as old as a task not yet listed
        newcomer = make_task(created_s=s)
        await repo.create(newcomer, dispatched(newcomer), [])
        tasks.append(newcomer)
    while page.next_cursor is not None:
        page = await repo.page(TaskFilter(), 2, page.next_cursor)
        seen += [t.task_id for t in page.items]
    older = sorted(
        (t for t in tasks if (t.created_at, t.task_id) < mark),
        key=lambda t: (t.created_at, t.task_id),
        reverse=True,
    )
    assert seen == [tasks[4].task_id, tasks[3].task_id] + [t.task_id for t in older]


def note(kind: str = "test", status: TaskStatus = TaskStatus.RUNNING, **changes: Any) -> Any:
    return EventDraft(kind, at(9), status, changes)


async def test_apply_sets_fields_adds_one_to_the_revision_and_stores_outbox(
    repo: TaskRepository,
) -> None:
    task = make_task()
    await repo.create(task, dispatched(task), [])
    agent = uuid4()
    changes: dict[str, Any] = {"status": TaskStatus.RUNNING, "agent_id": agent, "started_at": at(5)}
    msg = cancel_message(task.task_id, 5)
    moved = await repo.apply(task.task_id, 1, TaskPatch(**changes), note(), [msg])
    assert moved == attrs.evolve(task, revision=2, **changes)
    assert await repo.get(task.task_id) == moved
    assert await drain(repo) == [msg]


async def test_apply_on_a_stale_revision_changes_nothing(repo: TaskRepository) -> None:
    """Optimistic concurrency: two writers decided from revision 1; only one may write."""
    task = make_task()
    await repo.create(task, dispatched(task), [])
    msg = cancel_message(task.task_id)
    first = await repo.apply(task.task_id, 1, TaskPatch(progress_message="a"), note())
    assert first is not None and first.revision == 2
    late = await repo.apply(task.task_id, 1, TaskPatch(output="b"), note(), [msg])
    assert late is None
    assert await repo.get(task.task_id) == first
    assert await drain(repo) == []  # the loser's outbox is not written either
    assert [e.revision for e in await repo.events(task.task_id)] == [1, 2]
    assert await repo.apply(uuid4(), 1, TaskPatch(output="x"), note()) is None


async def test_concurrent_writers_on_one_revision_get_exactly_one_win(
    repo: TaskRepository,
) -> None:
    task = make_task()
    await repo.create(task, dispatched(task), [])
    writes = [
        repo.apply(task.task_id, 1, TaskPatch(progress_message=str(i)), note()) for i in range(10)
    ]
    won = [t for t in await asyncio.gather(*writes) if t is not None]
    assert len(won) == 1 and won[0].revision == 2
    assert len(await repo.events(task.task_id)) == 2


async def test_apply_on_status_and_attempt_needs_no_revision(repo: TaskRepository) -> None:
    task = make_task(status=TaskStatus.RUNNING, attempt=2)
    await repo.create(task, dispatched(task), [])
    changes: dict[str, Any] = {"status": TaskStatus.FAILED, "error_message": "boom"}
    patch = TaskPatch(**changes)
    wrong_attempt = ReportGuard(RUNNING, attempt=1)
    assert await repo.apply_report(task.task_id, wrong_attempt, patch, note()) is None
    wrong_status = ReportGuard(frozenset({TaskStatus.PENDING}), attempt=2)
    assert await repo.apply_report(task.task_id, wrong_status, patch, note()) is None
    assert await repo.get(task.task_id) == task
    moved = await repo.apply_report(task.task_id, ReportGuard(RUNNING, attempt=2), patch, note())
    assert moved == attrs.evolve(task, revision=2, **changes)


async def test_apply_on_the_holder_and_due_work_of_an_agents_report(repo: TaskRepository) -> None:
    holder, other = uuid4(), uuid4()
    held = make_task(status=TaskStatus.RUNNING, agent_id=holder)
    later = make_task(next_attempt_at=at(60))
    due = make_task(next_attempt_at=at(5))
    for task in (held, later, due):
        await repo.create(task, dispatched(task), [])
    progress = TaskPatch(progress_percent=50)
    started = TaskPatch(status=TaskStatus.RUNNING, agent_id=other)
    pending = frozenset({TaskStatus.PENDING})
    # Written together (PostgreSQL batches reports that arrive at once), each on its guard.
    answers = await asyncio.gather(
        repo.apply_report(
            held.task_id, ReportGuard(RUNNING, attempt=1, agent_id=other), progress, note()
        ),
        repo.apply_report(
            held.task_id, ReportGuard(RUNNING, attempt=1, agent_id=holder), progress, note()
        ),
        repo.apply_report(
            later.task_id, ReportGuard(pending, attempt=1, due_by=at(10)), started, note()
        ),
        repo.apply_report(
            due.task_id, ReportGuard(pending, attempt=1, due_by=at(10)), started, note()
        ),
    )
    assert [a is not None for a in answers] == [False, True, False, True]
    assert await repo.get(later.task_id) == later
    assert (await repo.get(held.task_id)) == attrs.evolve(held, revision=2, progress_percent=50)


async def test_a_terminal_task_is_never_reopened(repo: TaskRepository) -> None:
    task = make_task(status=TaskStatus.RUNNING)
    await repo.create(task, dispatched(task), [])
    finished = TaskPatch(status=TaskStatus.COMPLETED)
    done = await repo.apply_report(task.task_id, ReportGuard(RUNNING), finished, note())
    assert done is not None
    for target in (TaskStatus.PENDING, TaskStatus.RUNNING, TaskStatus.FAILED):
        back = TaskPatch(status=target, attempt=2)
        guard = ReportGuard(sources_of(target))
        assert await repo.apply_report(task.task_id, guard, back, note()) is None
    assert await repo.get(task.task_id) == done


async def test_the_timeline_has_every_change_in_revision_order(repo: TaskRepository) -> None:
    task = make_task()
    await repo.create(task, dispatched(task), [])
    for n in range(2, 6):
        changed = {"progress_percent": n * 10, "progress_message": f"step {n}"}
        assert await repo.apply(task.task_id, n - 1, TaskPatch(**changed), note(
            "progress", **changed))  # fmt: skip
    timeline = await repo.events(task.task_id)
    assert [e.revision for e in timeline] == [1, 2, 3, 4, 5]
    first = timeline[0]
    assert (first.kind, first.status, first.at) == ("dispatched", TaskStatus.PENDING, at(0))
    assert first.changes["task_id"] == str(task.task_id) and "parameters" not in first.changes
    assert first.changes["created_at"] == at(0).isoformat()
    assert timeline[3].changes == {"progress_percent": 40, "progress_message": "step 4"}
    assert [e.revision for e in await repo.events(task.task_id, after=3)] == [4, 5]
    assert [e.revision for e in await repo.events(task.task_id, after=1, limit=2)] == [2, 3]
    assert await repo.events(task.task_id, after=5) == []
    assert await repo.events(uuid4()) == []


async def test_timelines_of_many_tasks_in_one_read(repo: TaskRepository) -> None:
    tasks = [make_task(n) for n in range(3)]
    for task in tasks:
        await repo.create(task, dispatched(task), [])
    one, two, _ = tasks
    changed = {"progress_percent": 10}
    assert await repo.apply(one.task_id, 1, TaskPatch(**changed), note("progress", **changed))
    found = await repo.timelines([one.task_id, two.task_id, uuid4()])
    assert set(found) == {one.task_id, two.task_id}  # an unknown task is left out
    assert [e.revision for e in found[one.task_id]] == [1, 2]
    assert found[one.task_id] == await repo.events(one.task_id)
    assert [e.kind for e in found[two.task_id]] == ["dispatched"]
    assert await repo.timelines([]) == {}


async def test_due_for_timeout_lists_due_active_tasks_oldest_deadline_first(
    repo: TaskRepository,
) -> None:
    due_pending = make_task(0, timeout_s=30.0, deadline_at=at(30))
    due_running = make_task(1, status=TaskStatus.RUNNING, timeout_s=0.5, deadline_at=at(1.5))
    later = make_task(2, timeout_s=100.0, deadline_at=at(102))
    finished = make_task(3, status=TaskStatus.COMPLETED, timeout_s=1.0, deadline_at=at(4))
    no_deadline = make_task(4)
    for task in (due_pending, due_running, later, finished, no_deadline):
        await repo.create(task, dispatched(task), [])
    assert await repo.due_for_timeout(at(30)) == [due_running, due_pending]
    assert await repo.due_for_timeout(at(30), limit=1) == [due_running]
    assert await repo.due_for_timeout(at(1)) == []


async def test_running_on_lists_only_running_tasks_of_that_agent(repo: TaskRepository) -> None:
    agent, other = uuid4(), uuid4()
    mine = make_task(0, status=TaskStatus.RUNNING, agent_id=agent)
    theirs = make_task(1, status=TaskStatus.RUNNING, agent_id=other)
    done = make_task(2, status=TaskStatus.COMPLETED, agent_id=agent)
    for task in (mine, theirs, done):
        await repo.create(task, dispatched(task), [])
    assert await repo.running_on(agent) == [mine]
    assert await repo.running_on(uuid4()) == []


async def test_ping_answers(repo: TaskRepository) -> None:
    await repo.ping()


async def test_concurrent_creates_each_get_their_own_answer(repo: TaskRepository) -> None:
    """Many dispatches at once (PostgreSQL commits them as one group): each caller learns
    whether its task was stored, a task_id used twice in one burst is stored once, and only
    stored tasks get outbox messages."""
    tasks = [make_task(i) for i in range(30)]
    twin = attrs.evolve(tasks[5], parameters={"other": True}, request_id=uuid4())
    calls = [*((t, [work_message(t)]) for t in tasks), (twin, [work_message(twin)])]
    answers = await asyncio.gather(*(repo.create(t, dispatched(t), ob) for t, ob in calls))
    assert [created for _, created in answers] == [True] * 30 + [False]
    assert [stored for stored, _ in answers[:30]] == tasks
    assert answers[30][0] == tasks[5]  # the twin sees what was stored first
    sent: list[OutboxMessage] = []

    async def publish(batch: Any) -> None:
        sent.extend(batch)

    while await repo.relay_outbox(publish, 100):
        pass
    assert sorted(m.payload.task_id for m in sent) == sorted(t.task_id for t in tasks)


async def test_concurrent_reports_each_get_their_own_answer(repo: TaskRepository) -> None:
    """Many agents' reports at once (PostgreSQL writes those of one shape as one statement):
    each keeps its own guard and answer, its own timeline entry, a final one drops its task's
    unsent work, and a value the store refuses fails only its own report."""
    pending = [make_task(i) for i in range(12)]
    running = [make_task(20 + i, status=TaskStatus.RUNNING, attempt=2) for i in range(12)]
    for t in pending + running:
        await repo.create(t, dispatched(t), [])
    # Work waiting for its time: a task that became final needs none; the others keep theirs.
    later = [attrs.evolve(work_message(running[i]), not_before=at(3600)) for i in (0, 3)]
    await repo.enqueue(later)
    started = {"status": TaskStatus.RUNNING, "agent_id": uuid4(), "started_at": at(5)}
    done = {"status": TaskStatus.COMPLETED, "result": {"ok": [1]}, "finished_at": at(6)}
    starts = [
        repo.apply_report(t.task_id, ReportGuard(frozenset({TaskStatus.PENDING}), attempt=1),
                          TaskPatch(**started), note("started"))
        for t in pending
    ]  # fmt: skip
    results = [
        repo.apply_report(t.task_id, ReportGuard(RUNNING, attempt=1 if i == 3 else 2),
                          TaskPatch(**done), note("finished", TaskStatus.COMPLETED))
        for i, t in enumerate(running)
    ]  # fmt: skip
    bad = repo.apply_report(
        pending[0].task_id, ReportGuard(RUNNING), TaskPatch(output="a\x00b"), note()
    )
    answers = await asyncio.gather(*starts, *results, bad, return_exceptions=True)
    for t, moved in zip(pending, answers[:12], strict=True):
        assert moved == attrs.evolve(t, revision=2, **started)
    for i, (t, moved) in enumerate(zip(running, answers[12:24], strict=True)):
        assert moved == (None if i == 3 else attrs.evolve(t, revision=2, **done)), i
    if isinstance(answers[24], Exception):  # PostgreSQL refuses NUL in text; memory keeps it
        assert await repo.get(pending[0].task_id) == answers[0]
    for t in pending + running:
        events = await repo.events(t.task_id)
        stored = await repo.get(t.task_id)
        assert stored is not None and [e.revision for e in events] == list(
            range(1, stored.revision + 1)
        )
    assert [e.kind for e in await repo.events(running[0].task_id)] == ["dispatched", "finished"]
    sent: list[OutboxMessage] = []

    async def publish(batch: Any) -> None:
        sent.extend(batch)

    while await repo.relay_outbox(publish, 100, due_by=at(7200)):
        pass
    assert sent == [later[1]]  # running[0] finished: its waiting work was dropped


async def test_orphaned_are_tasks_held_by_agents_not_live_that_started_before(
    repo: TaskRepository,
) -> None:
    live, gone = uuid4(), uuid4()
    running = TaskStatus.RUNNING
    on_gone = make_task(status=running, agent_id=gone, started_at=at(1))
    cancel_waits = make_task(
        status=TaskStatus.CANCELLED, agent_id=gone, started_at=at(2), cancel_outcome="requested"
    )
    on_live = make_task(status=running, agent_id=live, started_at=at(1))
    too_recent = make_task(status=running, agent_id=gone, started_at=at(9))
    settled = make_task(
        status=TaskStatus.CANCELLED, agent_id=gone, started_at=at(1), cancel_outcome="stopped"
    )
    pending = make_task()
    for task in (on_gone, cancel_waits, on_live, too_recent, settled, pending):
        await repo.create(task, dispatched(task), [])
    found = await repo.orphaned({live}, at(5))
    assert [t.task_id for t in found] == [on_gone.task_id, cancel_waits.task_id]
    assert found[0] == on_gone
    assert [t.task_id for t in await repo.orphaned({live}, at(5), limit=1)] == [on_gone.task_id]


async def test_pending_without_work_are_those_whose_work_went_out(repo: TaskRepository) -> None:
    sent, unsent, later = make_task(), make_task(created_s=1), make_task(created_s=2)
    running = make_task(created_s=3, status=TaskStatus.RUNNING)
    await repo.create(sent, dispatched(sent), [work_message(sent)])
    await drain(repo)
    await repo.create(unsent, dispatched(unsent), [work_message(unsent)])
    scheduled = attrs.evolve(work_message(later), not_before=at(60))  # not sent before then
    await repo.create(later, dispatched(later), [scheduled])
    await repo.create(running, dispatched(running), [])
    assert [t.task_id for t in await repo.pending_without_work()] == [sent.task_id]
