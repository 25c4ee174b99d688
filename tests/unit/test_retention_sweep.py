"""The retention sweep on the in-memory stack with a manual clock."""

from __future__ import annotations

from chiffon.model import AgentStatus, TaskStatus
from tests.helpers import Stack, eventually


async def test_finished_tasks_and_offline_agents_are_forgotten_in_time(stack: Stack) -> None:
    runtime, _ = await stack.add_agent()
    done = [await stack.dispatch("echo", parameters={"n": n}) for n in range(3)]
    for task in done:
        await stack.until_status(task.task_id, TaskStatus.COMPLETED)
    waiting = await stack.dispatch("research")  # nobody serves it: never finishes
    await eventually(stack.service.list_agents, lambda a: len(a) == 1)
    await runtime.stop(grace_s=0.1)  # goodbye: offline now
    await eventually(stack.service.list_agents, lambda a: a[0].status is AgentStatus.OFFLINE)
    retention = stack.wired.retention

    stack.clock.advance(6 * 24 * 3600)  # 6 days: the agent is gone long enough, tasks not yet
    assert await retention.sweep() == (0, 1)
    stack.clock.advance(2 * 24 * 3600)  # 8 days: finished tasks go, the waiting one stays
    assert await retention.sweep() == (3, 0)
    for task in done:
        assert await stack.wired.tasks.get(task.task_id) is None
    assert (await stack.task(waiting.task_id)).status is TaskStatus.PENDING
    assert await stack.service.list_agents() == []
