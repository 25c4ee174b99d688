"""Concurrency limits by key on the in-memory stack with a manual clock: agents' reports are
fed to the tracker directly, so which task runs when is decided by the test alone."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from uuid import uuid4

import pytest

from adapters.memory.bus import work_queue
from adapters.memory.task_repository import InMemoryTaskRepository
from chiffon.changes import dispatched
from chiffon.commands import DispatchCommand, RetryRequest
from chiffon.concurrency import ConcurrencyLimit
from chiffon.errors import DependencyUnavailable, InvalidRequest, TaskIdConflict
from chiffon.events import TaskChanged
from chiffon.model import (
    CancelOutcome,
    EventDraft,
    OutboxMessage,
    ResultStatus,
    RetryOn,
    StatusUpdate,
    Task,
    TaskStatus,
    WaitingReason,
    WorkResult,
)
from chiffon.patch import TaskPatch
from chiffon.tracking import JOIN_WINDOW_S
from ports.task_repository import Admission, TaskFilter, TaskRepository
from tests.helpers import Stack, eventually, lease, new_agent, running_stack
from tests.history import assert_history_clean

W = WaitingReason
S = TaskStatus
AGENT, _ = new_agent()
DB1 = ConcurrencyLimit("db-1", 1)


async def keyed(stack: Stack, limit: ConcurrencyLimit = DB1, **kw: object) -> Task:
    return await stack.dispatch("research", concurrency=limit, **kw)


async def start(stack: Stack, task: Task, attempt: int = 1) -> None:
    lease_ = lease(task.task_id, attempt)
    update = StatusUpdate(task.task_id, AGENT, attempt, running=True, lease=lease_)
    await stack.wired.tracker.handle(update)
    assert (await stack.task(task.task_id)).status is S.RUNNING


async def finish(
    stack: Stack, task: Task, status: ResultStatus = ResultStatus.COMPLETED, attempt: int = 1
) -> None:
    result = WorkResult(
        task.task_id, task.request_id, AGENT, attempt, status, lease=lease(task.task_id, attempt)
    )
    await stack.wired.tracker.handle(result)


async def states(stack: Stack, *tasks: Task) -> list[tuple[S, W | None]]:
    found = [await stack.task(t.task_id) for t in tasks]
    return [(t.status, t.waiting_reason) for t in found]


async def work_sent(stack: Stack, count: int) -> None:
    """The in-memory bus holds `count` work messages for research agents (there are none to
    take them), and that stays so while the relay has nothing else to send."""
    await eventually(lambda: _depth(stack), lambda n: n >= count)
    await eventually(lambda: _unsent(stack), lambda n: n == 0)
    assert stack.broker.depth(work_queue("research")) == count


async def _depth(stack: Stack) -> int:
    return stack.broker.depth(work_queue("research"))


async def _unsent(stack: Stack) -> int:
    store = stack.wired.tasks
    assert isinstance(store, InMemoryTaskRepository)
    return len(store.unsent())


async def clean(stack: Stack) -> None:
    await assert_history_clean(stack.wired.tasks, stack.wired.agents, stack.clock, 30.0)


async def test_over_the_limit_tasks_wait_and_start_in_priority_order(stack: Stack) -> None:
    first = await keyed(stack)
    low = await keyed(stack, priority=1)
    high = await keyed(stack, priority=5)
    mid = await keyed(stack, priority=3)
    free = await stack.dispatch("research")  # no key: not limited
    assert (await stack.task(first.task_id)).admitted_at is not None
    waiting = (S.PENDING, W.CONCURRENCY_LIMIT)
    assert await states(stack, low, high, mid) == [waiting] * 3
    assert (await stack.task(free.task_id)).waiting_reason is not W.CONCURRENCY_LIMIT
    listed = await stack.service.list_tasks(TaskFilter(waiting_reason=W.CONCURRENCY_LIMIT), 9, None)
    assert {t.task_id for t in listed.items} == {low.task_id, high.task_id, mid.task_id}
    await work_sent(stack, 2)  # first's and free's: the others' work is held back

    order = []
    for n, task in enumerate((first, high, mid, low)):
        admitted = await stack.task(task.task_id)
        assert admitted.admitted_at is not None and admitted.waiting_reason is not None
        assert admitted.waiting_reason is not W.CONCURRENCY_LIMIT
        await work_sent(stack, 2 + n)
        await start(stack, task)
        order.append(task.task_id)
        others = [t for t in (low, high, mid) if t.task_id not in order]
        assert await states(stack, *others) == [waiting] * len(others)  # one at a time
        await finish(stack, task)
    kinds = [e.kind for e in await stack.wired.tasks.events(low.task_id)]
    assert kinds[:2] == ["dispatched", "admitted"]
    await clean(stack)


async def test_max_running_two_runs_two_at_once(stack: Stack) -> None:
    two = ConcurrencyLimit("host-a", 2)
    a, b, c = [await keyed(stack, two) for _ in range(3)]
    assert [s[1] for s in await states(stack, a, b, c)][2] is W.CONCURRENCY_LIMIT
    await start(stack, a)
    await start(stack, b)
    await finish(stack, b, ResultStatus.FAILED)  # a failure frees the slot as well
    assert (await stack.task(c.task_id)).admitted_at is not None
    await clean(stack)


async def test_running_and_result_in_one_write_free_the_slot_for_the_next(
    stack: Stack,
) -> None:
    """A short task's `running` and result arrive together and are stored in one write (ADR
    0017): that write frees its slot as a result alone does, so the next task waiting for
    the key is admitted at once, not at the next sweep."""
    first, second = await keyed(stack), await keyed(stack)
    assert (await stack.task(second.task_id)).admitted_at is None
    lease_ = lease(first.task_id, 1)
    running = StatusUpdate(first.task_id, AGENT, 1, running=True, lease=lease_)
    done = WorkResult(
        first.task_id, first.request_id, AGENT, 1, ResultStatus.COMPLETED, lease=lease_
    )
    tracker = stack.wired.tracker
    await asyncio.gather(tracker.handle(running), tracker.handle(done))
    timeline = await stack.wired.tasks.events(first.task_id)
    assert [(e.kind, e.revision) for e in timeline][-2:] == [("started", 3), ("finished", 4)]
    admitted = await stack.task(second.task_id)
    assert admitted.admitted_at is not None and admitted.waiting_reason is not W.CONCURRENCY_LIMIT
    await clean(stack)


async def test_a_result_a_moment_after_running_is_still_one_write_at_low_load(
    stack: Stack,
) -> None:
    """At low load a `running` waits up to JOIN_WINDOW_S for its result (the agent sends it a
    fraction of a millisecond later, so it comes in a later read, not in the same turns):
    one write, two timeline entries, one announcement that the task ended."""
    task = await stack.dispatch("research")
    lease_ = lease(task.task_id, 1)
    running = StatusUpdate(task.task_id, AGENT, 1, running=True, lease=lease_)
    done = WorkResult(task.task_id, task.request_id, AGENT, 1, ResultStatus.COMPLETED, lease=lease_)
    tracker = stack.wired.tracker

    async def result_later() -> None:
        await asyncio.sleep(JOIN_WINDOW_S / 4)
        await tracker.handle(done)

    await asyncio.gather(tracker.handle(running), result_later())
    timeline = await stack.wired.tasks.events(task.task_id)
    assert [(e.kind, e.revision) for e in timeline] == [
        ("dispatched", 1),
        ("started", 2),
        ("finished", 3),
    ]
    changes = [e for e in stack.events if isinstance(e, TaskChanged) and e.task.revision > 1]
    assert [(c.change, c.task.revision, c.started) for c in changes] == [("finished", 3, True)]
    await clean(stack)


async def test_keys_are_independent(stack: Stack) -> None:
    one = await keyed(stack, ConcurrencyLimit("db-1"))
    other = await keyed(stack, ConcurrencyLimit("db-2"))
    assert all(
        t.admitted_at for t in [await stack.task(one.task_id), await stack.task(other.task_id)]
    )


async def test_a_cancelled_waiting_task_leaves_the_queue_and_the_slot_alone(stack: Stack) -> None:
    first, second, third = [await keyed(stack) for _ in range(3)]
    cancelled = await stack.service.cancel(second.task_id)
    assert cancelled.cancel_outcome is CancelOutcome.NOT_STARTED
    assert (await stack.task(third.task_id)).admitted_at is None  # the slot is still first's
    await start(stack, first)
    await finish(stack, first)
    assert (await stack.task(third.task_id)).admitted_at is not None
    assert (await stack.task(second.task_id)).admitted_at is None


async def test_a_cancelled_running_task_holds_its_slot_until_its_agent_stopped(
    stack: Stack,
) -> None:
    first, second = await keyed(stack), await keyed(stack)
    await start(stack, first)
    cancelled = await stack.service.cancel(first.task_id)
    assert cancelled.cancel_outcome is CancelOutcome.REQUESTED
    # Its handler may still be running: the next one does not start yet.
    assert await states(stack, second) == [(S.PENDING, W.CONCURRENCY_LIMIT)]
    await finish(stack, first, ResultStatus.CANCELLED)
    assert (await stack.task(first.task_id)).cancel_outcome is CancelOutcome.STOPPED
    assert (await stack.task(second.task_id)).admitted_at is not None
    await clean(stack)


async def test_a_retried_task_keeps_its_slot(stack: Stack) -> None:
    policy = RetryRequest(max_attempts=2, on=(RetryOn.FAILED,))
    first, second = await keyed(stack, retry=policy), await keyed(stack)
    await start(stack, first)
    await finish(stack, first, ResultStatus.FAILED)
    again = await stack.task(first.task_id)
    assert (again.status, again.attempt, again.admitted_at is not None) == (S.PENDING, 2, True)
    assert (await stack.task(second.task_id)).admitted_at is None
    await start(stack, first, attempt=2)
    await finish(stack, first, attempt=2)
    assert (await stack.task(second.task_id)).admitted_at is not None


async def test_the_deadline_counts_from_the_slot(stack: Stack) -> None:
    first = await keyed(stack, timeout_s=10)
    second = await keyed(stack, timeout_s=10)
    assert (await stack.task(second.task_id)).deadline_at is None
    stack.clock.advance(30)  # first's deadline passed: it times out, second was only waiting
    await stack.wired.sweeper.sweep()
    assert (await stack.task(first.task_id)).status is S.TIMED_OUT
    admitted = await stack.task(second.task_id)
    assert admitted.status is S.PENDING and admitted.admitted_at == stack.clock.now()
    assert admitted.deadline_at == stack.clock.now() + timedelta(seconds=10)


async def test_a_delayed_task_waits_for_its_time_then_for_a_slot(stack: Stack) -> None:
    first = await keyed(stack)
    later = await keyed(stack, delay_s=60)
    assert await states(stack, later) == [(S.PENDING, W.SCHEDULED)]
    stack.clock.advance(61)
    await stack.wired.sweeper.sweep()
    assert await states(stack, later) == [(S.PENDING, W.CONCURRENCY_LIMIT)]
    await start(stack, first)
    await finish(stack, first)
    assert (await stack.task(later.task_id)).admitted_at is not None


async def test_the_sweep_admits_what_a_crash_left_waiting(stack: Stack) -> None:
    """A replica that freed a slot and died before admitting the next: any sweep does it."""
    cmd = DispatchCommand(uuid4(), "research", concurrency=DB1)
    task = Task(
        task_id=cmd.task_id, request_id=cmd.task_id, trace_id=cmd.task_id,
        work_type="research", agent_type="research", priority=3, parameters={},
        status=S.PENDING, created_at=stack.clock.now(), updated_at=stack.clock.now(),
        waiting_reason=W.CONCURRENCY_LIMIT, concurrency_key="db-1", concurrency_max_running=1,
    )  # fmt: skip
    await stack.wired.tasks.create(task, dispatched(task), [])  # stored, never admitted
    assert (await stack.task(task.task_id)).admitted_at is None
    await stack.wired.sweeper.sweep()
    assert (await stack.task(task.task_id)).admitted_at is not None
    await work_sent(stack, 1)


async def test_a_rerun_keeps_the_limit(stack: Stack) -> None:
    first = await keyed(stack)
    await start(stack, first)
    await finish(stack, first)
    rerun, _ = await stack.service.rerun(first.task_id)
    assert (rerun.concurrency_key, rerun.concurrency_max_running) == ("db-1", 1)


@pytest.mark.parametrize(
    "limit",
    [ConcurrencyLimit("", 1), ConcurrencyLimit("  ", 1), ConcurrencyLimit("x" * 201, 1),
     ConcurrencyLimit("a\x00b", 1), ConcurrencyLimit("db", 0), ConcurrencyLimit("db", 10_001)],
)  # fmt: skip
async def test_a_bad_limit_is_refused_naming_the_field(
    stack: Stack, limit: ConcurrencyLimit
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        await keyed(stack, limit)
    assert list((refused.value.details or {}).keys()) == ["concurrency"]


async def test_the_same_dispatch_again_is_idempotent_and_another_limit_conflicts(
    stack: Stack,
) -> None:
    task = await keyed(stack)
    again, created = await stack.service.dispatch(
        DispatchCommand(task.task_id, "research", concurrency=DB1)
    )
    assert (again.task_id, created) == (task.task_id, False)
    with pytest.raises(TaskIdConflict):
        await stack.service.dispatch(
            DispatchCommand(task.task_id, "research", concurrency=ConcurrencyLimit("db-1", 2))
        )


class StoreDownForAdmissions(InMemoryTaskRepository):
    """The store answers everything but admissions while `down`."""

    down = False

    async def admit(
        self, task: Task, patch: TaskPatch, event: EventDraft, outbox: Sequence[OutboxMessage]
    ) -> Admission:
        if self.down:
            raise DependencyUnavailable("the store did not answer")
        return await super().admit(task, patch, event, outbox)


async def test_a_store_failing_at_admission_fails_no_stored_change() -> None:
    """The dispatch (or the end that freed a slot) is stored: it stands, and answers; the
    admission it asked for is left to the next sweep."""
    store = StoreDownForAdmissions()
    async with running_stack({TaskRepository: store}) as stack:
        store.down = True
        task = await keyed(stack)  # stored; its admission failed
        assert await states(stack, task) == [(S.PENDING, W.CONCURRENCY_LIMIT)]
        store.down = False
        await stack.wired.sweeper.sweep()
        assert (await stack.task(task.task_id)).admitted_at is not None
        second = await keyed(stack)
        await start(stack, task)
        store.down = True
        await finish(stack, task)  # the slot is freed, the next admission fails
        assert (await stack.task(task.task_id)).status is S.COMPLETED
        assert (await stack.task(second.task_id)).admitted_at is None
        store.down = False
        await stack.wired.sweeper.sweep()
        assert (await stack.task(second.task_id)).admitted_at is not None
