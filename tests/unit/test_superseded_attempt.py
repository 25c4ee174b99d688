"""An agent counted lost while it still runs a task (paused, heartbeats late) may receive the
task's next attempt itself: it stops the old attempt and runs the new one. (It used to drop
the new attempt as a duplicate delivery, leaving the task pending for ever: found by the
simulation, seeds 3 and 4 at 2000 tasks.)"""

from __future__ import annotations

from uuid import uuid4

from chiffon.agent import AgentRuntime
from chiffon.model import Cancel, OutboxMessage, TaskStatus
from tests.helpers import Stack, eventually


async def test_the_next_attempt_of_a_task_it_still_runs_replaces_the_old_one(
    stack: Stack,
) -> None:
    runtime, _ = await stack.add_agent(concurrency=2)
    task = await stack.dispatch("sleep", parameters={"seconds": 0.6, "step_s": 0.1})
    await stack.until_status(task.task_id, TaskStatus.RUNNING)
    # Its heartbeats stop reaching the orchestrator: past the detection time it is lost.
    stack.clock.advance(60)
    await stack.wired.sweeper.sweep()
    retried = await stack.task(task.task_id)
    assert (retried.status, retried.attempt) == (TaskStatus.PENDING, 2)
    await runtime.beat()  # it comes back, still running attempt 1, and gets attempt 2's work

    done = await stack.until_status(task.task_id, TaskStatus.COMPLETED, timeout=5)
    assert done.attempt == 2 and done.agent_id == runtime.agent_id
    await eventually(lambda: _nothing(runtime), lambda idle: idle)  # the old attempt stopped


async def _nothing(runtime: AgentRuntime) -> bool:
    return not runtime.running_tasks


async def test_a_stop_for_its_old_attempt_leaves_the_attempt_it_holds_running(
    stack: Stack,
) -> None:
    runtime, _ = await stack.add_agent(concurrency=2)
    task = await stack.dispatch("sleep", parameters={"seconds": 0.6, "step_s": 0.1})
    await stack.until_status(task.task_id, TaskStatus.RUNNING)
    stack.clock.advance(60)
    await stack.wired.sweeper.sweep()
    await runtime.beat()
    running = await stack.until_status(task.task_id, TaskStatus.RUNNING)
    assert (running.attempt, running.agent_id) == (2, runtime.agent_id)

    # The orchestrator refused a late report of attempt 1 and stops that run, on this agent:
    # attempt 2, which it holds, goes on (it used to be stopped: the task ended "cancelled"
    # with nobody having cancelled it; found by the simulation, seed 42 at 10000 tasks).
    stale = Cancel(task.task_id, "attempt 1 is not the current attempt", runtime.agent_id, 1)
    await stack.wired.bus.publish([OutboxMessage(uuid4(), stale, stack.clock.now())])
    done = await stack.until_status(
        task.task_id, TaskStatus.COMPLETED, TaskStatus.CANCELLED, timeout=5
    )
    assert (done.status, done.attempt) == (TaskStatus.COMPLETED, 2)
