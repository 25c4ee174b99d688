"""The agent's connection drops just after its `running` went out: the broker takes the work
message back and delivers it to another agent. If the orchestrator heard that `running`, the
first agent holds the attempt and the second one's run is refused and stopped; so the first
must go on and report (ADR 0018). It gave the work back instead, and the task stayed
`running` for ever (a CI run of the broker-fault e2e test lost tasks this way)."""

from __future__ import annotations

import asyncio

import pytest

from adapters.memory.broker import InMemoryBroker
from adapters.memory.bus import InMemoryAgentBus
from chiffon.agent import AgentRuntime
from chiffon.credentials import AgentIdentity
from chiffon.handlers import HandlerContext, HandlerRegistry
from chiffon.model import Heartbeat, StatusUpdate, TaskStatus, WorkResult
from ports.bus import BusUnavailable, CancelHandler, WorkDelivery, WorkHandler
from tests.helpers import Stack, StaticProbe, eventually, new_agent

S = TaskStatus


class _DropsAfterRunning(InMemoryAgentBus):
    """Routes the first `running` and then loses the connection's work: the unacked message
    goes back to the queue and this agent takes no more (the redelivery goes elsewhere).
    `confirmed`: whether the `running`'s confirm came back before the drop."""

    def __init__(self, broker: InMemoryBroker, agent_id: object, confirmed: bool) -> None:
        super().__init__(broker, agent_id)  # type: ignore[arg-type]
        self.confirmed = confirmed
        self.dropped = False
        self._held: list[WorkDelivery] = []

    async def consume(
        self, agent_type: str, prefetch: int, on_work: WorkHandler, on_cancel: CancelHandler
    ) -> None:
        async def remember(delivery: WorkDelivery) -> None:
            self._held.append(delivery)
            await on_work(delivery)

        await super().consume(agent_type, prefetch, remember, on_cancel)

    async def publish(self, message: StatusUpdate | WorkResult | Heartbeat) -> None:
        await super().publish(message)
        if isinstance(message, StatusUpdate) and message.running and not self.dropped:
            self.dropped = True
            await self.stop_consuming()
            for delivery in self._held:
                await delivery.reject(requeue=True)  # the broker has it back: not held
            if not self.confirmed:
                raise BusUnavailable("connection lost before the confirm came back")


@pytest.mark.parametrize("confirmed", [True, False], ids=["confirmed", "unconfirmed"])
async def test_the_holder_of_an_attempt_whose_delivery_was_lost_finishes_it(
    stack: Stack, confirmed: bool
) -> None:
    release = asyncio.Event()
    runs: list[str] = []
    handlers = HandlerRegistry()

    @handlers.register("echo")
    async def wait(ctx: HandlerContext) -> dict[str, int]:
        runs.append("start")
        await release.wait()
        return {"attempt": ctx.attempt}

    agent_id, key = new_agent()
    bus = _DropsAfterRunning(stack.broker, agent_id, confirmed)
    first = AgentRuntime(bus, handlers, AgentIdentity("demo", key), StaticProbe(), 1, 30.0)
    await first.start()
    stack.agents.append((first, bus))
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
