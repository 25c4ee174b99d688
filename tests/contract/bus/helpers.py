"""Messages and recording consumers for the bus contract tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from uuid import UUID, uuid4

from chiffon.model import (
    AgentMessage,
    AgentStatus,
    Cancel,
    Heartbeat,
    OutboxMessage,
    ResultStatus,
    StatusUpdate,
    WorkRequest,
    WorkResult,
)
from ports.bus import WorkDelivery
from tests.helpers import lease

WAIT_S = 10.0


def request(agent_type: str = "alpha", priority: int = 3) -> WorkRequest:
    return WorkRequest(
        task_id=uuid4(),
        request_id=uuid4(),
        trace_id=uuid4(),
        work_type="echo",
        agent_type=agent_type,
        parameters={"text": "hi"},
        priority=priority,
        attempt=1,
    )


def outbox(payload: WorkRequest | Cancel) -> OutboxMessage:
    return OutboxMessage(uuid4(), payload, datetime.now(UTC))


def status(agent_id: UUID, task_id: UUID, percent: int) -> StatusUpdate:
    running = percent == 0
    return StatusUpdate(task_id, agent_id, 1, running, percent, lease=lease(task_id))


def result(agent_id: UUID, req: WorkRequest) -> WorkResult:
    done = ResultStatus.COMPLETED
    return WorkResult(
        req.task_id, req.request_id, agent_id, 1, done, "ok", lease=lease(req.task_id)
    )


def heartbeat(agent_id: UUID, n: int, agent_type: str = "alpha") -> Heartbeat:
    return Heartbeat(agent_id, agent_type, AgentStatus.ONLINE, ("echo",), 1, (), {"n": n})


class Worker:
    """An agent's handlers that queue what arrives, for the test to take in order."""

    def __init__(self) -> None:
        self.deliveries: asyncio.Queue[WorkDelivery] = asyncio.Queue()
        self.cancels: asyncio.Queue[Cancel] = asyncio.Queue()

    async def on_work(self, delivery: WorkDelivery) -> None:
        await self.deliveries.put(delivery)

    async def on_cancel(self, cancel: Cancel) -> None:
        await self.cancels.put(cancel)

    async def next(self, within_s: float = WAIT_S) -> WorkDelivery:
        return await asyncio.wait_for(self.deliveries.get(), within_s)

    async def next_cancel(self, within_s: float = WAIT_S) -> Cancel:
        return await asyncio.wait_for(self.cancels.get(), within_s)


class Inbox:
    """The orchestrator's handler: records each message as the handler starts."""

    def __init__(self, fail_first: int = 0) -> None:
        self.started: list[AgentMessage] = []
        self.done: list[AgentMessage] = []
        self._fail_first = fail_first
        self._changed = asyncio.Event()

    async def handle(self, message: AgentMessage) -> None:
        self.started.append(message)
        await asyncio.sleep(0.001 * (len(self.started) % 3))  # handlers overlap
        if self._fail_first > 0:
            self._fail_first -= 1
            raise RuntimeError("store is down (test)")
        self.done.append(message)
        self._changed.set()

    async def wait_done(self, count: int, within_s: float = WAIT_S) -> list[AgentMessage]:
        await wait_until(lambda: len(self.done) >= count, within_s)
        return self.done


async def wait_until(condition: Callable[[], bool], within_s: float = WAIT_S) -> None:
    """Poll `condition` until it holds; fail after `within_s`."""
    deadline = time.monotonic() + within_s
    while True:
        if condition():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within_s}s")
        await asyncio.sleep(0.005)


async def nothing_more(worker: Worker, settle_s: float = 0.3) -> bool:
    """True if no further delivery arrives within `settle_s`."""
    await asyncio.sleep(settle_s)
    return worker.deliveries.empty()


async def eventually(probe: Callable[[], Awaitable[bool]], within_s: float = WAIT_S) -> None:
    """Await `probe` until it returns True; fail after `within_s`."""

    async def run() -> None:
        while True:
            if await probe():
                return
            await asyncio.sleep(0.05)

    await asyncio.wait_for(run(), within_s)
