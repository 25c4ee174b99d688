"""The safety net under every agent-side fault: a task stored `running` on a live agent whose
heartbeats have not listed it for `unlisted_after_s` is at work nowhere, and the loss policy
takes it (ADR 0018). One beat that misses a task proves nothing (its result may be queued
behind the beat), and an agent lists the tasks whose result it has still to send."""

from __future__ import annotations

import asyncio
from uuid import UUID

from adapters.memory.broker import InMemoryBroker
from adapters.memory.bus import InMemoryAgentBus
from chiffon.agent import AgentRuntime
from chiffon.config import OrchestratorConfig
from chiffon.handlers import HandlerContext, HandlerRegistry
from chiffon.model import Agent, Heartbeat, StatusUpdate, TaskStatus, WorkResult
from ports.bus import BusUnavailable
from tests.helpers import Stack, eventually

S = TaskStatus


def _blocking_first_attempt() -> tuple[HandlerRegistry, asyncio.Event]:
    release = asyncio.Event()
    handlers = HandlerRegistry()

    @handlers.register("echo")
    async def run(ctx: HandlerContext) -> dict[str, int]:
        if ctx.attempt == 1:
            await release.wait()
        return {"attempt": ctx.attempt}

    return handlers, release


async def _beat(stack: Stack, runtime: AgentRuntime, running: tuple[()] | None) -> None:
    """One heartbeat, processed (its check included) before the test moves the clock."""
    now = stack.clock.now()
    await runtime.beat(running=running)
    await eventually(lambda: _agent(stack), lambda a: a.last_heartbeat_at == now)
    await asyncio.sleep(0.02)  # the check after the record (one indexed read)


async def _agent(stack: Stack) -> Agent:
    [agent] = await stack.service.list_agents()
    return agent


async def test_a_task_its_agent_no_longer_lists_is_retried(stack: Stack) -> None:
    assert stack.container is not None
    after = stack.container.resolve(OrchestratorConfig).unlisted_after_s
    assert after == 30.0
    handlers, _ = _blocking_first_attempt()
    runtime, _ = await stack.add_agent(handlers, concurrency=2)
    task = await stack.dispatch("echo")
    await stack.until_status(task.task_id, S.RUNNING)

    await _beat(stack, runtime, ())  # just started: not a suspect
    stack.clock.advance(after + 1)
    await _beat(stack, runtime, ())  # unlisted from now on
    stack.clock.advance(after / 2 + 1)
    await _beat(stack, runtime, ())  # unlisted for only half the time: nothing yet
    still = await stack.task(task.task_id)
    assert (still.status, still.attempt) == (S.RUNNING, 1)

    stack.clock.advance(after / 2 + 1)
    await _beat(stack, runtime, ())  # unlisted for longer than unlisted_after_s: lost
    done = await stack.until_status(task.task_id, S.COMPLETED)
    assert (done.attempt, done.result) == (2, {"attempt": 2})


async def test_a_listed_task_is_left_alone_however_long_it_runs(stack: Stack) -> None:
    handlers, release = _blocking_first_attempt()
    runtime, _ = await stack.add_agent(handlers, concurrency=2)
    task = await stack.dispatch("echo")
    await stack.until_status(task.task_id, S.RUNNING)
    for _ in range(4):
        stack.clock.advance(31)
        await _beat(stack, runtime, None)  # lists what it runs
    still = await stack.task(task.task_id)
    assert (still.status, still.attempt) == (S.RUNNING, 1)
    release.set()
    done = await stack.until_status(task.task_id, S.COMPLETED)
    assert done.attempt == 1


class _ResultsHeldBack(InMemoryAgentBus):
    """Results are not confirmed until `back` is set; every heartbeat is kept."""

    def __init__(self, broker: InMemoryBroker, agent_id: UUID) -> None:
        super().__init__(broker, agent_id)
        self.back = asyncio.Event()
        self.beats: list[Heartbeat] = []

    async def publish(self, message: StatusUpdate | WorkResult | Heartbeat) -> None:
        if isinstance(message, WorkResult) and not self.back.is_set():
            raise BusUnavailable("the broker is away")
        if isinstance(message, Heartbeat):
            self.beats.append(message)
        await super().publish(message)


async def test_a_heartbeat_lists_the_tasks_whose_result_is_still_to_be_sent(
    stack: Stack,
) -> None:
    handlers = HandlerRegistry()

    @handlers.register("echo")
    async def quick(ctx: HandlerContext) -> dict[str, int]:
        return {"attempt": ctx.attempt}

    runtime, bus = await stack.add_agent(handlers, concurrency=2, bus_type=_ResultsHeldBack)
    assert isinstance(bus, _ResultsHeldBack)
    task = await stack.dispatch("echo")
    await stack.until_status(task.task_id, S.RUNNING)
    await eventually(lambda: _running(runtime), lambda r: r == ())  # the handler returned
    await runtime.beat()
    assert bus.beats[-1].running_tasks == (task.task_id,)  # its result is not sent yet

    bus.back.set()
    await stack.until_status(task.task_id, S.COMPLETED, timeout=5)
    await runtime.beat()
    assert bus.beats[-1].running_tasks == ()


async def _running(runtime: AgentRuntime) -> object:
    return runtime.running_tasks
