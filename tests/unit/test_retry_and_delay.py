"""Retry policies and delayed starts, in memory with a manual clock: when work is sent, how
many attempts run, and what each attempt leaves in the task's timeline."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from chiffon.commands import RetryRequest
from chiffon.errors import InvalidRequest
from chiffon.handlers import HandlerContext, HandlerError, HandlerRegistry
from chiffon.model import RetryOn, TaskStatus
from tests.helpers import Stack, eventually

S = TaskStatus
ALWAYS_FAIL = {"message": "flaky", "exit_code": 3}


async def kinds(stack: Stack, task_id: Any) -> list[tuple[str, str]]:
    timeline = await stack.wired.tasks.events(task_id)
    return [(e.kind, e.status.value) for e in timeline]


async def test_a_failure_is_retried_with_backoff_then_fails(stack: Stack) -> None:
    await stack.add_agent()
    policy = RetryRequest(max_attempts=3, backoff_s=10, on=(RetryOn.FAILED,))
    task = await stack.dispatch("fail", parameters=ALWAYS_FAIL, retry=policy)
    for attempt, wait in ((2, 10.0), (3, 20.0)):
        waiting = await eventually(
            lambda: stack.task(task.task_id), lambda t, a=attempt: t.attempt == a
        )
        assert waiting.status is S.PENDING and waiting.error_message == "flaky"
        assert waiting.next_attempt_at is not None
        delay = (waiting.next_attempt_at - stack.clock.now()).total_seconds()
        assert wait / 2 <= delay <= wait  # exponential, with jitter taking off up to half
        await stack.wired.relay.drain()
        assert (await stack.task(task.task_id)).status is S.PENDING  # not sent before its time
        stack.clock.advance(wait)
        await stack.wired.relay.drain()
    final = await stack.until_status(task.task_id, S.FAILED)
    assert (final.attempt, final.exit_code, final.error_message) == (3, 3, "flaky")
    timeline = await stack.wired.tasks.events(task.task_id)
    finished = [e for e in timeline if e.kind == "finished"]
    assert [e.status.value for e in finished] == ["pending", "pending", "failed"]
    assert all(e.changes["exit_code"] == 3 and e.changes["error_message"] for e in finished)
    started = [e.changes["agent_id"] for e in timeline if e.kind == "started"]
    assert len(started) == 3 and all(started)  # every attempt's agent stays visible


async def test_a_handler_can_say_retrying_would_not_help(stack: Stack) -> None:
    handlers = HandlerRegistry()

    @handlers.register("echo")
    async def refuse(ctx: HandlerContext) -> None:
        raise HandlerError("bad input", exit_code=2, retryable=False)

    await stack.add_agent(handlers)
    policy = RetryRequest(max_attempts=5, on=(RetryOn.FAILED,))
    task = await stack.dispatch("echo", retry=policy)
    final = await stack.until_status(task.task_id, S.FAILED)
    assert (final.attempt, final.exit_code) == (1, 2)


async def test_without_a_policy_a_failure_is_final(stack: Stack) -> None:
    await stack.add_agent()
    task = await stack.dispatch("fail", parameters=ALWAYS_FAIL)
    final = await stack.until_status(task.task_id, S.FAILED)
    assert final.attempt == 1 and final.retry_on == (RetryOn.LOST,)


async def test_a_time_out_is_retried_when_the_policy_says_so(stack: Stack) -> None:
    policy = RetryRequest(max_attempts=2, on=(RetryOn.TIMED_OUT,))
    task = await stack.dispatch("echo", timeout_s=5, retry=policy)  # no agent: it waits
    stack.clock.advance(6)
    await stack.wired.sweeper.sweep()
    again = await stack.task(task.task_id)
    assert (again.status, again.attempt) == (S.PENDING, 2)
    assert again.deadline_at == stack.clock.now() + timedelta(seconds=5)  # a new deadline
    assert again.error_message == "attempt 1 timed out after 5.0s"
    stack.clock.advance(6)
    await stack.wired.sweeper.sweep()
    assert (await stack.task(task.task_id)).status is S.TIMED_OUT


async def test_a_delayed_start_is_sent_at_its_time_and_not_before(stack: Stack) -> None:
    await stack.add_agent()
    task = await stack.dispatch("echo", parameters={"when": "later"}, delay_s=60)
    assert task.next_attempt_at == task.not_before == task.created_at + timedelta(seconds=60)
    await stack.wired.relay.drain()
    stack.clock.advance(59)
    await stack.wired.relay.drain()
    assert (await stack.task(task.task_id)).status is S.PENDING
    stack.clock.advance(1)
    await stack.wired.relay.drain()
    done = await stack.until_status(task.task_id, S.COMPLETED)
    assert done.result == {"when": "later"} and done.next_attempt_at is None


async def test_a_delayed_task_can_be_cancelled_and_is_never_sent(stack: Stack) -> None:
    await stack.add_agent()
    task = await stack.dispatch("echo", delay_s=30)
    cancelled = await stack.service.cancel(task.task_id)
    assert cancelled.status is S.CANCELLED
    unsent = stack.wired.tasks.unsent()  # type: ignore[attr-defined]
    assert not [m for m in unsent if getattr(m.payload, "task_id", None) == task.task_id
                and m.not_before is not None]  # fmt: skip
    stack.clock.advance(31)
    await stack.wired.relay.drain()
    assert (await stack.task(task.task_id)).status is S.CANCELLED
    assert [k for k, _ in await kinds(stack, task.task_id)] == ["dispatched", "cancelled"]


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"delay_s": 0}, "delay_s"),
        ({"delay_s": 400 * 24 * 3600}, "delay_s"),
        ({"delay_s": 5, "not_before_in": 10}, "delay_s"),
        ({"not_before_in": 400 * 24 * 3600}, "not_before"),
        ({"retry": RetryRequest(max_attempts=21)}, "retry"),
        ({"retry": RetryRequest(backoff_s=10, backoff_max_s=5)}, "retry"),
    ],
)
async def test_bad_policies_are_refused_naming_the_field(
    stack: Stack, args: dict[str, Any], field: str
) -> None:
    later = args.pop("not_before_in", None)
    if later is not None:
        args["not_before"] = stack.clock.now() + timedelta(seconds=later)
    with pytest.raises(InvalidRequest) as refused:
        await stack.dispatch("echo", **args)
    assert field in refused.value.details
