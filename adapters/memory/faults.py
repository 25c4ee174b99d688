"""A seeded fault layer over the in-memory bus and store, for the simulation.

Every fault is drawn from one seeded generator, so a seed names one history of faults. What
may be lost is what a real deployment can lose: a heartbeat (RabbitMQ expires stale beats) and
a progress report; a `running` or a result is published with confirms, so here it is only
delayed (a slow confirm, overtaken by others: reordered), duplicated, or never confirmed
because its agent crashed first.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable, Sequence
from uuid import UUID

import attrs

from adapters.memory.bus import InMemoryAgentBus
from adapters.memory.task_repository import InMemoryTaskRepository
from chiffon.errors import DependencyUnavailable
from chiffon.model import EventDraft, Heartbeat, OutboxMessage, StatusUpdate, Task, WorkResult
from chiffon.patch import ReportGuard, TaskPatch
from ports.bus import (
    AgentBus,
    AgentMessageHandler,
    BusUnavailable,
    CancelHandler,
    Rejected,
    WorkBus,
    WorkHandler,
)


@attrs.frozen
class FaultRates:
    """The chance of each fault per message or write (0 turns it off)."""

    drop: float = 0.02  # a heartbeat or progress report lost
    duplicate: float = 0.02  # a report or work message sent twice
    delay: float = 0.05  # a report held back (so overtaken: reordered)
    max_delay_s: float = 3.0
    store_write: float = 0.01  # a task write fails (the store is unreachable)
    publish: float = 0.01  # a work publish is not confirmed (the relay tries again)
    connection_drop: float = 0.01  # an agent's connection drops right after a `running`


class FaultDice:
    """The seeded generator every fault is drawn from, and the count of each fault made."""

    def __init__(self, seed: int, rates: FaultRates) -> None:
        self.random = random.Random(seed)
        self.rates = rates
        self.counts: Counter[str] = Counter()
        self.enabled = True

    def roll(self, fault: str, chance: float) -> bool:
        if self.enabled and self.random.random() < chance:
            self.counts[fault] += 1
            return True
        return False

    def delay_s(self) -> float:
        return self.random.uniform(0.01, self.rates.max_delay_s)


class FaultyAgentBus(AgentBus):
    """An agent's bus that loses, duplicates and delays what the agent publishes, can pause
    its heartbeats, and can crash (the agent goes silent at once, its unacked work requeued)."""

    def __init__(self, inner: InMemoryAgentBus, dice: FaultDice) -> None:
        self._inner = inner
        self._dice = dice
        self._crashed = False
        self.beats_paused = False

    async def consume(
        self, agent_type: str, prefetch: int, on_work: WorkHandler, on_cancel: CancelHandler
    ) -> None:
        await self._inner.consume(agent_type, prefetch, on_work, on_cancel)

    async def stop_consuming(self) -> None:
        await self._inner.stop_consuming()

    async def publish(self, message: StatusUpdate | WorkResult | Heartbeat) -> None:
        if self._crashed:
            return  # a dead process says nothing
        rates = self._dice.rates
        if isinstance(message, Heartbeat):
            if self.beats_paused or self._dice.roll("heartbeat_dropped", rates.drop):
                return
            await self._inner.publish(message)
            return
        if (
            isinstance(message, StatusUpdate)
            and message.running
            and self._dice.roll("connection_dropped", rates.connection_drop)
        ):
            # The connection drops just after the broker routed `running`: the work the agent
            # holds unacked goes back to the queue, and the confirm may be lost with it.
            await self._inner.publish(message)
            self._inner.drop_work()
            if self._dice.random.random() < 0.5:
                raise BusUnavailable("simulated: the connection dropped before the confirm")
            return
        progress = isinstance(message, StatusUpdate) and not message.running
        if progress and self._dice.roll("progress_dropped", rates.drop):
            return
        if self._dice.roll("report_delayed", rates.delay):
            # A slow confirm: this call waits, others (other tasks' reports, heartbeats) go
            # on and overtake it. Crashed meanwhile: never confirmed, so the work it was
            # about is still unacked and goes back to the queue.
            await asyncio.sleep(self._dice.delay_s())
            if self._crashed:
                raise BusUnavailable("simulated: the agent crashed before the confirm")
        await self._inner.publish(message)
        if self._dice.roll("report_duplicated", rates.duplicate):
            await self._inner.publish(message)

    def crash(self) -> None:
        self._crashed = True
        self._inner.kill()

    def is_connected(self) -> bool:
        return self._inner.is_connected()

    async def close(self) -> None:
        await self._inner.close()


class FaultyWorkBus(WorkBus):
    """The orchestrator's bus: a publish is sometimes not confirmed (the relay sends it
    again), and sometimes sent twice (a broker may deliver a message more than once)."""

    def __init__(self, inner: WorkBus, dice: FaultDice) -> None:
        self._inner = inner
        self._dice = dice

    async def publish(self, messages: Sequence[OutboxMessage]) -> Rejected:
        if self._dice.roll("publish_failed", self._dice.rates.publish):
            raise BusUnavailable("simulated: publish not confirmed")
        rejected = await self._inner.publish(messages)
        if self._dice.roll("work_duplicated", self._dice.rates.duplicate):
            await self._inner.publish(messages)
        return rejected

    async def consume_agent_messages(
        self, handler: AgentMessageHandler, on_refused: Callable[[str], None] | None = None
    ) -> None:
        await self._inner.consume_agent_messages(handler, on_refused)

    def is_connected(self) -> bool:
        return self._inner.is_connected()

    async def close(self) -> None:
        await self._inner.close()


class FlakyTaskRepository(InMemoryTaskRepository):
    """The in-memory store whose task writes sometimes fail before anything is written (as a
    lost database connection does): nothing is half-stored, the caller sees the error."""

    def __init__(self, dice: FaultDice, max_finished: int = 1_000_000) -> None:
        super().__init__(max_finished)
        self._dice = dice

    async def apply(
        self,
        task_id: UUID,
        revision: int,
        patch: TaskPatch,
        event: EventDraft,
        outbox: Sequence[OutboxMessage] = (),
    ) -> Task | None:
        self._maybe_fail()
        return await super().apply(task_id, revision, patch, event, outbox)

    async def apply_report(
        self,
        task_id: UUID,
        guard: ReportGuard,
        patch: TaskPatch,
        event: EventDraft,
        then: EventDraft | None = None,
    ) -> Task | None:
        self._maybe_fail()
        return await super().apply_report(task_id, guard, patch, event, then)

    def _maybe_fail(self) -> None:
        if self._dice.roll("store_write_failed", self._dice.rates.store_write):
            raise DependencyUnavailable("simulated: the store did not answer")
