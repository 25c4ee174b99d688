"""One bad item never fails or blocks another: unsendable work, odd handler results and agent
messages out of bounds, on the in-memory stack wired by the composition root."""

from __future__ import annotations

import json
from uuid import uuid4

import pytest

from adapters.codec import PROTOCOL_VERSION
from adapters.memory.bus import RESULTS
from adapters.system.clock import RandomIds
from chiffon.changes import dispatched
from chiffon.errors import InvalidRequest
from chiffon.fresh_outbox import FreshOutbox
from chiffon.handlers import HandlerContext, HandlerOutcome, HandlerRegistry
from chiffon.messages import OutboxFactory
from chiffon.model import TaskStatus
from tests.contract.store.builders import make_task
from tests.helpers import TEST_KEY, Stack

S = TaskStatus


def nest(levels: int) -> object:
    value: object = []
    for _ in range(levels - 1):
        value = [value]
    return value


async def test_work_that_cannot_be_encoded_fails_its_task_and_not_the_batch(stack: Stack) -> None:
    await stack.add_agent()
    # Stored behind the service's back (the edge refuses NaN): a task the bus cannot encode.
    poison = make_task(parameters={"x": float("nan")}, created_at=stack.clock.now())
    outbox = OutboxFactory(stack.clock, RandomIds(), TEST_KEY)
    stored, _ = await stack.wired.tasks.create(poison, dispatched(poison), [outbox.work(poison)])
    good = await stack.dispatch("echo", parameters={"ok": True})
    assert stack.container is not None
    stack.container.resolve(FreshOutbox).submit(stack.wired.tasks.unsent())  # type: ignore[attr-defined]
    failed = await stack.until_status(stored.task_id, S.FAILED)
    assert failed.error_message is not None
    assert failed.error_message.startswith("could not be sent to an agent")
    assert (await stack.until_status(good.task_id, S.COMPLETED)).result == {"ok": True}
    assert stack.wired.tasks.unsent() == []  # type: ignore[attr-defined]


async def test_the_domain_refuses_parameters_the_edge_would(stack: Stack) -> None:
    for bad in ({"x": float("inf")}, {"x": "\x00"}, {"x": 2**70}, {"x": {1, 2}}):
        with pytest.raises(InvalidRequest) as caught:
            await stack.dispatch("echo", parameters=bad)
        assert "parameters" in caught.value.details


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (float("nan"), "number out of range"),
        (nest(70), "nested more than 64"),
        ({"text": "nul \x00 inside"}, "NUL"),
        (object(), "is not a JSON value"),
        ("x" * (1024 * 1024 + 1), "the limit is"),
    ],
)
async def test_a_result_out_of_limits_fails_the_attempt_saying_why(
    stack: Stack, value: object, says: str
) -> None:
    handlers = HandlerRegistry()

    @handlers.register("echo")
    async def odd(ctx: HandlerContext) -> HandlerOutcome:
        return HandlerOutcome(result=value, output="bad \x00 byte \ud800 here")

    await stack.add_agent(handlers)
    task = await stack.dispatch("echo")
    done = await stack.until_status(task.task_id, S.FAILED)
    assert done.error_message is not None and says in done.error_message
    assert done.output == "bad \ufffd byte \ufffd here" and done.exit_code == 1


def envelope(kind: str, payload: dict[str, object]) -> bytes:
    body = {"protocol_version": PROTOCOL_VERSION, "type": kind, "payload": payload}
    return json.dumps(body).encode()


async def test_agent_messages_out_of_bounds_are_dead_lettered(stack: Stack) -> None:
    await stack.add_agent()
    task_id, agent_id = str(uuid4()), str(uuid4())
    bad = [
        envelope("work_status", {"task_id": task_id, "agent_id": agent_id, "attempt": 2**40}),
        envelope(
            "work_result",
            {
                "task_id": task_id,
                "request_id": task_id,
                "agent_id": agent_id,
                "attempt": 1,
                "status": "completed",
                "exit_code": 2**40,
            },
        ),
        envelope(
            "heartbeat",
            {
                "agent_id": agent_id,
                "agent_type": "demo",
                "status": "online",
                "capabilities": [],
                "max_concurrency": 0,
                "running_tasks": [],
                "resources": {},
            },
        ),
        b'{"protocol_version": "1.0", "type": "work_status", "payload": {"x": NaN}}',
        b"x" * (5 * 1024 * 1024),
    ]
    for body in bad:
        stack.broker.publish(RESULTS, body)
    good = await stack.dispatch("echo", parameters={"after": "poison"})
    assert (await stack.until_status(good.task_id, S.COMPLETED)).result == {"after": "poison"}
    reasons = [d.reason for d in stack.broker.dead_letters]
    assert len(reasons) == len(bad), reasons
    assert any("attempt out of range" in r for r in reasons)
    assert any("exit_code out of range" in r for r in reasons)
    assert any("max_concurrency out of range" in r for r in reasons)
    assert any("NaN is not JSON" in r for r in reasons)
    assert any("the limit is" in r for r in reasons)
