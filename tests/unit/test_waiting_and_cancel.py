"""Why a task waits, and how a cancel ended: on the in-memory stack with a manual clock, with
agents' messages fed to the tracker directly where a real agent could not be made to race."""

from __future__ import annotations

from uuid import UUID

from chiffon.commands import RetryRequest
from chiffon.model import (
    AgentStatus,
    CancelOutcome,
    Heartbeat,
    ResultStatus,
    RetryOn,
    StatusUpdate,
    TaskStatus,
    WaitingReason,
    WorkResult,
)
from ports.task_repository import TaskFilter
from tests.helpers import Stack, lease, new_agent

W = WaitingReason


AGENT, AGENT_KEY = new_agent()


def beat(agent_id: UUID, status: AgentStatus, goodbye: bool = False) -> Heartbeat:
    assert agent_id == AGENT  # the one agent these tests know the key of
    return Heartbeat(agent_id, "research", status, ("research",), 1, (), {}, goodbye, AGENT_KEY)


async def reason(stack: Stack, task_id: UUID) -> tuple[WaitingReason | None, object]:
    task = await stack.task(task_id)
    return task.waiting_reason, task.waiting_until


async def test_the_waiting_reason_follows_the_agents(stack: Stack) -> None:
    tracker, sweeper = stack.wired.tracker, stack.wired.sweeper
    task = await stack.dispatch("research")  # its agent type has no agent (yet)
    assert task.waiting_reason is W.NO_AGENT
    agent = AGENT
    for status, expected in (
        (AgentStatus.ONLINE, W.QUEUED),
        (AgentStatus.BUSY, W.AGENTS_BUSY),
        (AgentStatus.ONLINE, W.QUEUED),
    ):
        await tracker.handle(beat(agent, status))
        await sweeper.refresh_waiting()
        assert await reason(stack, task.task_id) == (expected, None)
    await tracker.handle(beat(agent, AgentStatus.OFFLINE, goodbye=True))
    await sweeper.refresh_waiting()
    assert await reason(stack, task.task_id) == (W.NO_AGENT, None)
    found = await stack.service.list_tasks(TaskFilter(waiting_reason=W.NO_AGENT), 10, None)
    assert [t.task_id for t in found.items] == [task.task_id]
    timeline = await stack.wired.tasks.events(task.task_id)
    waits = [e.changes["waiting_reason"] for e in timeline if e.kind == "waiting"]
    assert waits == ["queued", "agents_busy", "queued", "no_agent"]
    await tracker.handle(
        StatusUpdate(task.task_id, agent, 1, running=True, lease=lease(task.task_id))
    )
    assert await reason(stack, task.task_id) == (None, None)  # running: not waiting


async def test_scheduled_and_retry_backoff_say_until_when(stack: Stack) -> None:
    later = await stack.dispatch("research", delay_s=60)
    assert (later.waiting_reason, later.waiting_until) == (W.SCHEDULED, later.not_before)
    policy = RetryRequest(max_attempts=2, backoff_s=30, on=(RetryOn.FAILED,))
    flaky = await stack.dispatch("research", retry=policy)
    agent = AGENT
    await stack.wired.tracker.handle(
        StatusUpdate(flaky.task_id, agent, 1, running=True, lease=lease(flaky.task_id))
    )
    failed = WorkResult(
        flaky.task_id, flaky.request_id, agent, 1, ResultStatus.FAILED, lease=lease(flaky.task_id)
    )
    await stack.wired.tracker.handle(failed)
    waiting = await stack.task(flaky.task_id)
    assert waiting.waiting_reason is W.RETRY_BACKOFF
    assert waiting.waiting_until == waiting.next_attempt_at is not None
    stack.clock.advance(61)
    await stack.wired.sweeper.refresh_waiting()  # both are due now: what is there to run them?
    assert await reason(stack, later.task_id) == (W.NO_AGENT, None)
    assert await reason(stack, flaky.task_id) == (W.NO_AGENT, None)


async def running_task(stack: Stack) -> tuple[UUID, UUID]:
    task = await stack.dispatch("research")
    agent = AGENT
    await stack.wired.tracker.handle(
        StatusUpdate(task.task_id, agent, 1, running=True, lease=lease(task.task_id))
    )
    return task.task_id, agent


async def test_a_pending_cancel_was_not_started(stack: Stack) -> None:
    task = await stack.dispatch("research")
    cancelled = await stack.service.cancel(task.task_id)
    assert cancelled.cancel_outcome is CancelOutcome.NOT_STARTED


async def test_a_running_cancel_waits_for_the_agent_then_says_stopped(stack: Stack) -> None:
    task_id, agent = await running_task(stack)
    cancelled = await stack.service.cancel(task_id)
    assert cancelled.cancel_outcome is CancelOutcome.REQUESTED
    stopped = WorkResult(
        task_id, task_id, agent, 1, ResultStatus.CANCELLED, output="stopped", lease=lease(task_id)
    )
    await stack.wired.tracker.handle(stopped)
    final = await stack.task(task_id)
    assert (final.status, final.cancel_outcome) == (TaskStatus.CANCELLED, CancelOutcome.STOPPED)


async def test_a_cancel_too_late_keeps_the_result_and_stays_cancelled(stack: Stack) -> None:
    task_id, agent = await running_task(stack)
    await stack.service.cancel(task_id)
    done = WorkResult(
        task_id, task_id, agent, 1, ResultStatus.COMPLETED, output="all done", result={"x": 1},
        exit_code=0, duration_ms=12, lease=lease(task_id),
    )  # fmt: skip
    await stack.wired.tracker.handle(done)
    final = await stack.task(task_id)
    assert (final.status, final.cancel_outcome) == (TaskStatus.CANCELLED, CancelOutcome.TOO_LATE)
    assert (final.result, final.output, final.exit_code) == ({"x": 1}, "all done", 0)
    await stack.wired.tracker.handle(done)  # a duplicate changes nothing more
    assert (await stack.task(task_id)).revision == final.revision
    kinds = [e.kind for e in await stack.wired.tasks.events(task_id)]
    assert kinds[-2:] == ["cancelled", "cancel_confirmed"]


async def test_a_cancel_whose_agent_is_lost_is_unconfirmed(stack: Stack) -> None:
    task_id, agent = await running_task(stack)
    await stack.service.cancel(task_id)
    goodbye = Heartbeat(
        agent, "research", AgentStatus.ONLINE, (), 1, (task_id,), {}, True, AGENT_KEY
    )
    await stack.wired.tracker.handle(goodbye)
    final = await stack.task(task_id)
    assert (final.status, final.cancel_outcome) == (
        TaskStatus.CANCELLED,
        CancelOutcome.UNCONFIRMED,
    )
