"""The same attempt delivered to a second agent (a broker redelivery while the first still
runs it): the second's `running` is refused, recorded, and that agent alone is told to stop;
the holder's run goes on and its result is the task's."""

from __future__ import annotations

import asyncio
from uuid import uuid4

from chiffon.handlers import HandlerContext, HandlerRegistry
from chiffon.messages import work_request_for
from chiffon.model import Cancel, OutboxMessage, TaskStatus
from tests.helpers import TEST_KEY, Stack, eventually

S = TaskStatus


async def test_a_second_agent_running_a_held_attempt_is_stopped_alone(stack: Stack) -> None:
    release = asyncio.Event()
    runs: list[str] = []
    handlers = HandlerRegistry()

    @handlers.register("echo")
    async def wait(ctx: HandlerContext) -> dict[str, str]:
        runs.append("start")
        await release.wait()
        return {"done": "yes"}

    holder, _ = await stack.add_agent(handlers, concurrency=1)
    task = await stack.dispatch("echo")
    running = await stack.until_status(task.task_id, S.RUNNING)
    assert running.agent_id == holder.agent_id
    second, _ = await stack.add_agent(handlers, concurrency=1)
    # Delivered again, twice: the holder drops its copy (it runs that task), `second` runs one.
    twice = [
        OutboxMessage(uuid4(), work_request_for(running, TEST_KEY), stack.clock.now()) for _ in "ab"
    ]
    await stack.wired.bus.publish(twice)
    await eventually(lambda: _runs(runs), lambda n: n == 2)
    await eventually(lambda: _running(second), lambda r: r == ())  # stopped there
    assert holder.running_tasks == (task.task_id,)  # not here
    release.set()
    done = await stack.until_status(task.task_id, S.COMPLETED)
    assert (done.agent_id, done.result) == (holder.agent_id, {"done": "yes"})

    async def refusals() -> list[dict[str, object]]:
        _, events = await stack.service.timeline(task.task_id)
        return [e.changes["refused"] for e in events if e.kind == "report_refused"]

    refused = await eventually(refusals, lambda r: len(r) == 2)
    # Its `running`, then its `cancelled` result: both refused, both recorded.
    assert [(r["report"], r["agent_id"]) for r in refused] == [
        ("started", str(second.agent_id)),
        ("finished", str(second.agent_id)),
    ]
    assert {r["reason"] for r in refused} == {f"attempt 1 is held by agent {holder.agent_id}"}


async def _runs(runs: list[str]) -> int:
    return len(runs)


async def _running(runtime: object) -> object:
    return runtime.running_tasks  # type: ignore[attr-defined]


async def test_an_agent_taken_for_lost_runs_the_next_attempt_when_it_gets_it(stack: Stack) -> None:
    """Paused past detection, it comes back still running attempt 1 and is handed attempt 2
    (it is the only agent): attempt 1 gives way, attempt 2 runs (it is no duplicate)."""
    first_attempt_runs = asyncio.Event()
    handlers = HandlerRegistry()

    @handlers.register("echo")
    async def slow_then_quick(ctx: HandlerContext) -> dict[str, int]:
        if ctx.attempt == 1:
            first_attempt_runs.set()
            await asyncio.sleep(60)
        return {"attempt": ctx.attempt}

    agent, _ = await stack.add_agent(handlers, concurrency=1)
    task = await stack.dispatch("echo")
    await first_attempt_runs.wait()
    await stack.until_status(task.task_id, S.RUNNING)
    stack.clock.advance(10)  # its heartbeats missed: lost, attempt 2 goes out
    await stack.wired.sweeper.sweep()
    done = await stack.until_status(task.task_id, S.COMPLETED)
    assert (done.attempt, done.agent_id, done.result) == (2, agent.agent_id, {"attempt": 2})
    assert agent.running_tasks == ()


async def test_a_cancel_of_an_earlier_attempt_leaves_the_later_run_alone(stack: Stack) -> None:
    release = asyncio.Event()
    handlers = HandlerRegistry()

    @handlers.register("echo")
    async def wait(ctx: HandlerContext) -> dict[str, int]:
        await release.wait()
        return {"attempt": ctx.attempt}

    agent, _ = await stack.add_agent(handlers, concurrency=1)
    task = await stack.dispatch("echo")
    await stack.until_status(task.task_id, S.RUNNING)
    stale = Cancel(task.task_id, "attempt 0 is stale", agent.agent_id, attempt=0)
    other = Cancel(task.task_id, "not you", uuid4(), attempt=1)
    await stack.wired.bus.publish(
        [OutboxMessage(uuid4(), c, stack.clock.now()) for c in (stale, other)]
    )
    await asyncio.sleep(0.05)  # delivered (the in-memory broker's pump runs at once)
    assert agent.running_tasks == (task.task_id,)
    mine = Cancel(task.task_id, "attempt 1 is not yours", agent.agent_id, attempt=1)
    await stack.wired.bus.publish([OutboxMessage(uuid4(), mine, stack.clock.now())])
    # It stops attempt 1; nobody cancelled the task, so the loss policy gives it attempt 2
    # (never `cancelled` with no cancel behind it), which runs to its end.
    await eventually(lambda: stack.task(task.task_id), lambda t: t.attempt == 2)
    release.set()
    done = await stack.until_status(task.task_id, S.COMPLETED)
    assert (done.attempt, done.result, done.cancel_outcome) == (2, {"attempt": 2}, None)
