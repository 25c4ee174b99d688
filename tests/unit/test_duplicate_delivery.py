"""The same attempt delivered to a second agent (a broker redelivery while the first still
runs it): the second's `running` is refused, recorded, and that agent alone is told to stop;
the holder's run goes on and its result is the task's."""

from __future__ import annotations

import asyncio
from uuid import uuid4

from chiffon.handlers import HandlerContext, HandlerRegistry
from chiffon.messages import work_request_for
from chiffon.model import OutboxMessage, TaskStatus
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
