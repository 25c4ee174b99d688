"""A task still held by an agent that is gone, whose loss was never applied (the process that
saw it go stopped first, or its registry entry is gone), is lost at the next sweep once the
detection window has passed, and not before."""

from __future__ import annotations

from uuid import UUID, uuid4

from chiffon.commands import RetryRequest
from chiffon.model import Agent, AgentStatus, StatusUpdate, TaskStatus
from tests.helpers import Stack, eventually, lease

S = TaskStatus


async def _running_on(stack: Stack, agent_id: UUID, **kw: object) -> UUID:
    task = await stack.dispatch("echo", **kw)  # no agent takes it: reports come by hand
    await stack.wired.tracker.handle(
        StatusUpdate(task.task_id, agent_id, 1, running=True, lease=lease(task.task_id))
    )
    assert (await stack.task(task.task_id)).status is S.RUNNING
    return task.task_id


def _gone(agent_id: UUID, stack: Stack, running: tuple[UUID, ...]) -> Agent:
    """What a goodbye leaves in the registry when its loss policy never ran."""
    return Agent(
        agent_id, "demo", AgentStatus.OFFLINE, ("echo",), 1, running, {}, stack.clock.now()
    )


async def test_tasks_of_an_offline_or_unknown_agent_are_lost_after_the_window(stack: Stack) -> None:
    said_goodbye, never_seen = uuid4(), uuid4()
    retried = await _running_on(stack, said_goodbye)
    failed = await _running_on(stack, never_seen, retry=RetryRequest(max_attempts=1))
    cancel_waits = await _running_on(stack, said_goodbye)
    await stack.service.cancel(cancel_waits)
    await stack.wired.agents.record(_gone(said_goodbye, stack, (retried, cancel_waits)))
    stack.clock.advance(5)  # within the detection window: a goodbye's results may be on their way
    await stack.wired.sweeper.sweep()
    assert (await stack.task(retried)).status is S.RUNNING
    stack.clock.advance(2)
    await stack.wired.sweeper.sweep()
    again = await stack.task(retried)
    assert (again.status, again.attempt, again.agent_id) == (S.PENDING, 2, None)
    lost = await stack.task(failed)
    assert lost.status is S.FAILED
    assert lost.error_message == f"agent {never_seen} lost during attempt 1 (max_attempts reached)"
    assert (await stack.task(cancel_waits)).cancel_outcome == "unconfirmed"


async def test_a_live_agents_tasks_are_left_alone(stack: Stack) -> None:
    runtime, _ = await stack.add_agent()
    task = await stack.dispatch("sleep", parameters={"seconds": 30})
    await stack.until_status(task.task_id, S.RUNNING)
    stack.clock.advance(3)
    await runtime.beat()  # heard within the window
    await eventually(
        stack.service.list_agents, lambda a: a[0].last_heartbeat_at == stack.clock.now()
    )
    await stack.wired.sweeper.sweep()
    still = await stack.task(task.task_id)
    assert (still.status, still.agent_id) == (S.RUNNING, runtime.agent_id)
