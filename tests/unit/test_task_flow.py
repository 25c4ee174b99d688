import asyncio
from uuid import uuid4

import attrs
import pytest

from chiffon.errors import NotCancellable, TaskNotFound
from chiffon.events import TaskChanged
from chiffon.handlers import HandlerContext, HandlerRegistry
from chiffon.model import ResultStatus, StatusUpdate, TaskStatus, WorkResult
from tests.helpers import Stack, eventually, lease

S = TaskStatus


def statuses_of(stack: Stack, task_id: object) -> list[tuple[str, int | None]]:
    return [
        (e.task.status.value, e.task.progress_percent)
        for e in stack.events
        if isinstance(e, TaskChanged) and e.task.task_id == task_id
    ]


async def test_echo_runs_and_completes_with_its_parameters(stack: Stack) -> None:
    runtime, _ = await stack.add_agent()
    task = await stack.dispatch("echo", parameters={"hello": "world"})
    done = await stack.until_status(task.task_id, S.COMPLETED)
    assert done.result == {"hello": "world"}
    assert done.exit_code == 0
    assert done.agent_id == runtime.agent_id
    assert done.duration_ms is not None and done.started_at and done.finished_at
    assert [s for s, _ in statuses_of(stack, task.task_id)] == ["pending", "running", "completed"]


async def test_sleep_reports_progress_in_order(stack: Stack) -> None:
    await stack.add_agent()
    task = await stack.dispatch("sleep", parameters={"seconds": 0.2, "step_s": 0.05})
    done = await stack.until_status(task.task_id, S.COMPLETED)
    assert done.result == {"slept_s": 0.2}
    seen = statuses_of(stack, task.task_id)
    percents = [p for s, p in seen if s == "running" and p is not None]
    assert percents == sorted(percents) and percents[-1] == 100 and len(percents) >= 3
    assert seen[0][0] == "pending" and seen[-1] == ("completed", 100)


async def test_fail_reports_message_and_exit_code(stack: Stack) -> None:
    await stack.add_agent()
    task = await stack.dispatch("fail", parameters={"message": "boom", "exit_code": 3})
    done = await stack.until_status(task.task_id, S.FAILED)
    assert (done.error_message, done.exit_code) == ("boom", 3)


async def test_a_handler_that_raises_fails_the_task(stack: Stack) -> None:
    handlers = HandlerRegistry()

    @handlers.register("echo")
    async def broken(ctx: HandlerContext) -> None:
        raise KeyError("missing")

    await stack.add_agent(handlers)
    task = await stack.dispatch("echo")
    done = await stack.until_status(task.task_id, S.FAILED)
    assert done.error_message == "KeyError: 'missing'"
    assert done.exit_code == 1


async def test_a_handler_past_its_timeout_is_stopped_and_times_out(stack: Stack) -> None:
    await stack.add_agent()  # the agent's timer (real time) sees it before the manual clock
    task = await stack.dispatch("sleep", parameters={"seconds": 5}, timeout_s=0.1)
    done = await stack.until_status(task.task_id, S.TIMED_OUT, S.FAILED)
    assert (done.status, done.exit_code) == (S.TIMED_OUT, 124)
    assert done.error_message == "timed out after 0.1s"


async def test_an_agent_without_the_handler_fails_the_task(stack: Stack) -> None:
    await stack.add_agent(HandlerRegistry())
    task = await stack.dispatch("echo")
    done = await stack.until_status(task.task_id, S.FAILED)
    assert "no handler for work_type 'echo'" in (done.error_message or "")


async def test_cancel_of_a_pending_task_means_it_never_runs(stack: Stack) -> None:
    task = await stack.dispatch("echo")
    cancelled = await stack.service.cancel(task.task_id)
    assert cancelled.status is S.CANCELLED
    runtime, _ = await stack.add_agent()
    await eventually(lambda: _depth(stack), lambda d: d == 0)
    await asyncio.sleep(0.1)
    final = await stack.task(task.task_id)
    assert final.status is S.CANCELLED and final.agent_id is None
    assert runtime.running_tasks == ()


async def _depth(stack: Stack) -> int:
    return stack.broker.depth("chiffon.work.demo")


async def test_cancel_of_a_running_task_stops_its_handler(stack: Stack) -> None:
    runtime, _ = await stack.add_agent()
    task = await stack.dispatch("sleep", parameters={"seconds": 30})
    await stack.until_status(task.task_id, S.RUNNING)
    assert runtime.running_tasks == (task.task_id,)
    await stack.service.cancel(task.task_id)
    await eventually(lambda: _running(runtime), lambda r: r == ())
    await asyncio.sleep(0.05)
    final = await stack.task(task.task_id)
    assert final.status is S.CANCELLED  # the agent's late `cancelled` result changes nothing


async def _running(runtime: object) -> object:
    return runtime.running_tasks  # type: ignore[attr-defined]


async def test_cancel_of_a_finished_or_missing_task_is_refused(stack: Stack) -> None:
    await stack.add_agent()
    task = await stack.dispatch("echo")
    await stack.until_status(task.task_id, S.COMPLETED)
    with pytest.raises(NotCancellable) as err:
        await stack.service.cancel(task.task_id)
    assert err.value.error_code == 2002 and err.value.details["status"] == "completed"
    with pytest.raises(TaskNotFound):
        await stack.service.cancel(uuid4())
    other = await stack.dispatch("echo", parameters={"n": 2})
    await stack.service.cancel(other.task_id)
    with pytest.raises(NotCancellable):
        await stack.service.cancel(other.task_id)


async def test_higher_priority_work_runs_first(stack: Stack) -> None:
    order: list[int] = []
    handlers = HandlerRegistry()

    @handlers.register("echo")
    async def record(ctx: HandlerContext) -> None:
        order.append(ctx.parameters["p"])

    tasks = [await stack.dispatch("echo", parameters={"p": p}, priority=p) for p in (1, 3, 5, 2, 4)]
    await eventually(lambda: _depth(stack), lambda d: d == 5)
    await stack.add_agent(handlers, concurrency=1)
    for t in tasks:
        await stack.until_status(t.task_id, S.COMPLETED)
    assert order == [5, 4, 3, 2, 1]


async def test_duplicate_late_and_stale_messages_change_nothing(stack: Stack) -> None:
    await stack.add_agent()
    task = await stack.dispatch("echo", parameters={"v": 1})
    done = await stack.until_status(task.task_id, S.COMPLETED)
    agent_id = done.agent_id
    assert agent_id is not None
    tracker = stack.wired.tracker
    await tracker.handle(
        WorkResult(
            task.task_id,
            task.request_id,
            agent_id,
            1,
            ResultStatus.FAILED,
            error_message="late",
            lease=lease(task.task_id),
        )
    )
    await tracker.handle(
        WorkResult(
            task.task_id,
            task.request_id,
            agent_id,
            2,
            ResultStatus.FAILED,
            error_message="other attempt",
            lease=lease(task.task_id, 2),
        )
    )
    token = lease(task.task_id)
    await tracker.handle(StatusUpdate(task.task_id, agent_id, 1, running=True, lease=token))
    await tracker.handle(StatusUpdate(task.task_id, agent_id, 1, progress_percent=5, lease=token))
    # All from the lease holder, so the boundary lets them in; the holder's duplicates change
    # nothing; the report about an attempt it never held changes nothing either, and is
    # recorded in the timeline.
    assert stack.wired.tracker.refused == {}
    after = await stack.task(task.task_id)
    assert attrs.evolve(after, revision=done.revision) == done
    _, events = await stack.service.timeline(task.task_id, after=done.revision)
    assert [(e.revision, e.kind, e.status) for e in events] == [
        (done.revision + 1, "report_refused", S.COMPLETED)
    ]


async def test_a_result_for_a_pending_task_implies_it_ran(stack: Stack) -> None:
    task = await stack.dispatch("echo")
    await eventually(lambda: _depth(stack), lambda d: d == 1)  # announced and published
    agent_id = uuid4()
    await stack.wired.tracker.handle(
        WorkResult(
            task.task_id,
            task.request_id,
            agent_id,
            1,
            ResultStatus.COMPLETED,
            result=7,
            lease=lease(task.task_id),
        )
    )
    final = await stack.task(task.task_id)
    assert (final.status, final.result, final.agent_id) == (S.COMPLETED, 7, agent_id)
    assert [s for s, _ in statuses_of(stack, task.task_id)] == ["pending", "running", "completed"]


async def test_every_announced_change_says_what_it_was(stack: Stack) -> None:
    await stack.add_agent()
    task = await stack.dispatch("sleep", parameters={"seconds": 0.1, "step_s": 0.05})
    await stack.until_status(task.task_id, S.COMPLETED)
    kinds = [
        e.change
        for e in stack.events
        if isinstance(e, TaskChanged) and e.task.task_id == task.task_id
    ]
    assert kinds[0] == "dispatched" and kinds[1] == "started" and kinds[-1] == "finished"
    assert set(kinds[2:-1]) <= {"progress", "waiting"} and "progress" in kinds
