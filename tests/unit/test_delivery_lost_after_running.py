"""The agent's connection drops just after its `running` went out: the broker takes the work
message back and delivers it to another agent. If the orchestrator heard that `running`, the
first agent holds the attempt and the second one's run is refused and stopped; so the first
must go on and report (ADR 0018). It gave the work back instead, and the task stayed
`running` for ever (a CI run of the broker-fault e2e test lost tasks this way)."""

from __future__ import annotations

import asyncio
from functools import partial
from uuid import UUID, uuid4

import pytest

from adapters.memory.broker import InMemoryBroker
from adapters.memory.bus import InMemoryAgentBus
from chiffon.agent import AgentRuntime
from chiffon.handlers import HandlerContext, HandlerRegistry
from chiffon.messages import work_request_for
from chiffon.model import Heartbeat, OutboxMessage, StatusUpdate, TaskStatus, WorkResult
from ports.bus import BusUnavailable, CancelHandler, WorkDelivery, WorkHandler
from tests.helpers import TEST_KEY, Stack, eventually

S = TaskStatus


class _KeepsDeliveries(InMemoryAgentBus):
    """Keeps every work delivery, to lose it or to see when it is settled."""

    def __init__(self, broker: InMemoryBroker, agent_id: UUID) -> None:
        super().__init__(broker, agent_id)
        self.deliveries: list[WorkDelivery] = []

    async def consume(
        self, agent_type: str, prefetch: int, on_work: WorkHandler, on_cancel: CancelHandler
    ) -> None:
        async def remember(delivery: WorkDelivery) -> None:
            self.deliveries.append(delivery)
            await on_work(delivery)

        await super().consume(agent_type, prefetch, remember, on_cancel)


class _DropsAfterRunning(_KeepsDeliveries):
    """Routes the first `running` and then loses the connection's work: the unacked message
    goes back to the queue and this agent takes no more (the redelivery goes elsewhere).
    `confirmed`: whether the `running`'s confirm came back before the drop."""

    def __init__(self, broker: InMemoryBroker, agent_id: UUID, confirmed: bool) -> None:
        super().__init__(broker, agent_id)
        self.confirmed = confirmed
        self.dropped = False

    async def publish(self, message: StatusUpdate | WorkResult | Heartbeat) -> None:
        await super().publish(message)
        if isinstance(message, StatusUpdate) and message.running and not self.dropped:
            self.dropped = True
            await self.stop_consuming()
            for delivery in self.deliveries:
                await delivery.reject(requeue=True)  # the broker has it back: not held
            if not self.confirmed:
                raise BusUnavailable("connection lost before the confirm came back")


def _waiting_echo() -> tuple[HandlerRegistry, asyncio.Event, list[str]]:
    """An echo that waits for `release`; each start is counted in `runs`."""
    release = asyncio.Event()
    runs: list[str] = []
    handlers = HandlerRegistry()

    @handlers.register("echo")
    async def wait(ctx: HandlerContext) -> dict[str, int]:
        runs.append("start")
        await release.wait()
        return {"attempt": ctx.attempt}

    return handlers, release, runs


@pytest.mark.parametrize("confirmed", [True, False], ids=["confirmed", "unconfirmed"])
async def test_the_holder_of_an_attempt_whose_delivery_was_lost_finishes_it(
    stack: Stack, confirmed: bool
) -> None:
    handlers, release, runs = _waiting_echo()
    dropping = partial(_DropsAfterRunning, confirmed=confirmed)
    first, bus = await stack.add_agent(handlers, concurrency=1, bus_type=dropping)
    assert isinstance(bus, _DropsAfterRunning)
    task = await stack.dispatch("echo")
    running = await stack.until_status(task.task_id, S.RUNNING)
    assert running.agent_id == first.agent_id and bus.dropped
    second, _ = await stack.add_agent(handlers, concurrency=1)  # takes the redelivered copy
    await eventually(lambda: _count(runs), lambda n: n == 2)
    await eventually(lambda: _running(second), lambda r: r == ())  # refused there, stopped
    assert first.running_tasks == (task.task_id,)  # still at work here
    release.set()
    done = await stack.until_status(task.task_id, S.COMPLETED)
    assert (done.agent_id, done.attempt, done.result) == (first.agent_id, 1, {"attempt": 1})


async def _count(runs: list[str]) -> int:
    return len(runs)


async def _running(runtime: AgentRuntime) -> object:
    return runtime.running_tasks


class _RunningUnconfirmed(_KeepsDeliveries):
    """The first `running` fails unrouted; sent again, it goes out only once `back` is set
    (the broker is away meanwhile)."""

    def __init__(self, broker: InMemoryBroker, agent_id: UUID) -> None:
        super().__init__(broker, agent_id)
        self.back = asyncio.Event()
        self.failed = False

    async def publish(self, message: StatusUpdate | WorkResult | Heartbeat) -> None:
        if isinstance(message, StatusUpdate) and message.running:
            if not self.failed:
                self.failed = True
                raise BusUnavailable("no confirm: the broker is away")
            await self.back.wait()
        await super().publish(message)


async def test_work_is_acked_only_once_its_run_is_heard_of(stack: Stack) -> None:
    """Until the orchestrator surely heard that this agent runs the task, neither the work
    message nor a copy of it is acked: were the agent to die meanwhile, the message goes back
    to the queue and runs elsewhere instead of leaving the task pending for ever."""
    handlers, release, runs = _waiting_echo()
    agent, bus = await stack.add_agent(handlers, concurrency=2, bus_type=_RunningUnconfirmed)
    assert isinstance(bus, _RunningUnconfirmed)
    task = await stack.dispatch("echo")
    await eventually(lambda: _count(runs), lambda n: n == 1)
    assert bus.failed
    copy = work_request_for(await stack.task(task.task_id), TEST_KEY)
    await stack.wired.bus.publish([OutboxMessage(uuid4(), copy, stack.clock.now())])
    await eventually(lambda: _count(bus.deliveries), lambda n: n == 2)
    await asyncio.sleep(0.05)
    assert [d.held for d in bus.deliveries] == [True, True]  # neither acked, nor given back
    assert (await stack.task(task.task_id)).status is S.PENDING

    bus.back.set()  # `running` goes out: the orchestrator hears it, both are acked
    await stack.until_status(task.task_id, S.RUNNING)
    await eventually(lambda: _held(bus.deliveries), lambda held: held == [False, False])
    release.set()
    done = await stack.until_status(task.task_id, S.COMPLETED)
    assert (done.agent_id, done.result, len(runs)) == (agent.agent_id, {"attempt": 1}, 1)


async def _held(deliveries: list[WorkDelivery]) -> list[bool]:
    return [d.held for d in deliveries]
