"""Use cases of the agents' messages: running, progress, results and heartbeats."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Final
from uuid import UUID

from chiffon.changes import Finish, Progress, Start
from chiffon.events import AgentUpdated
from chiffon.keyed_lock import KeyedLock
from chiffon.leases import LeaseKeeper
from chiffon.ledger import Applied, Ignored, Outcome, TaskLedger
from chiffon.log_fields import agent_fields, task_fields
from chiffon.model import (
    Agent,
    AgentMessage,
    AgentStatus,
    Heartbeat,
    StatusUpdate,
    TaskStatus,
    WorkResult,
)
from chiffon.report_gate import ReportGate
from ports.agent_registry import AgentRegistry
from ports.clock import Clock
from ports.notifier import Notifier

log = logging.getLogger(__name__)

STOPPED: Final = frozenset({TaskStatus.CANCELLED, TaskStatus.TIMED_OUT})
MAX_REMEMBERED_AGENTS: Final = 10_000
# How long a `running` waits for its result, in turns of the loop: a delivery takes two
# turns to reach the tracker, so this covers the result read with it and in the next reads,
# and never holds the broker's prefetch window long (a timer of 1 ms did, under a burst).
JOIN_TURNS: Final = 8
# At low load (a few `running`s waiting), a short timer instead also catches a result still
# on its way (an agent sends it a fraction of a millisecond after `running`); under a burst
# the turns alone, so waiting reports never fill the prefetch window (ADR 0017).
JOIN_WINDOW_S: Final = 0.002
JOIN_WINDOW_MAX_WAITING: Final = 4


class AgentMessageTracker:
    """Turns agents' messages into task changes (through the ledger, which keeps each task's
    order and refuses what is stale, duplicate or late) and keeps the agent registry."""

    def __init__(
        self,
        agents: AgentRegistry,
        ledger: TaskLedger,
        leases: LeaseKeeper,
        notifier: Notifier,
        clock: Clock,
        gate: ReportGate,
    ) -> None:
        self._gate = gate
        self._agents = agents
        self._ledger = ledger
        self._leases = leases
        self._notifier = notifier
        self._clock = clock
        self._agent_order = KeyedLock()  # one agent's heartbeats, one after the other
        self._live_agents: set[UUID] = set()  # to log an agent's arrival once, not each beat
        self._starting: dict[UUID, _Starting] = {}  # `running` reports waiting one loop turn

    @property
    def refused(self) -> dict[str, int]:
        """Messages refused at the boundary so far, by reason (none: {})."""
        return {reason: n for reason, n in self._gate.refused.items() if n}

    async def handle(self, message: AgentMessage) -> None:
        """Apply one message; the ledger applies one task's messages in arrival order. A
        message that does not prove where it comes from is refused (ReportGate)."""
        if not self._gate.admit(message):
            return
        if isinstance(message, Heartbeat):
            async with self._agent_order.hold(message.agent_id):
                await self.on_heartbeat(message)
            return
        waiting = self._starting.get(message.task_id)
        if waiting is not None:  # a `running` of this task waits for its turn: keep the order
            if isinstance(message, WorkResult) and waiting.takes(message):
                await self._started_and_finished(waiting, message)
                return
            waiting.open = False
            waiting.wake()  # no result joins it now: the `running` goes first, on its own
            await asyncio.shield(waiting.settled)
        if isinstance(message, WorkResult):
            await self.on_result(message)
        else:
            await self.on_status(message)

    async def on_status(self, update: StatusUpdate) -> None:
        if not update.running:
            progress = Progress(
                update.agent_id, update.attempt, update.progress_percent, update.message
            )
            await self._stop_foreign(await self._ledger.apply(update.task_id, progress), update)
            return
        if update.task_id in self._starting:
            await self._start(update)
            return
        waiting = self._starting[update.task_id] = _Starting(update)
        try:
            # A short task's result follows its `running` closely: wait a moment for it, so
            # one write stores both (handle); meanwhile any other message of the task waits.
            if len(self._starting) <= JOIN_WINDOW_MAX_WAITING:
                asyncio.get_running_loop().call_later(JOIN_WINDOW_S, waiting.wake)
            else:
                _after_turns(JOIN_TURNS, waiting.wake)
            await waiting.woken
            waiting.open = False
            if waiting.joined is not None:
                await waiting.joined  # stored by the result's handler (or raises: redelivered)
                return
            await self._start(update)
        finally:
            del self._starting[update.task_id]
            waiting.settled.set_result(None)

    async def _start(self, update: StatusUpdate) -> None:
        outcome = await self._ledger.apply(update.task_id, Start(update.agent_id, update.attempt))
        task = outcome.task
        if await self._stop_foreign(outcome, update):
            return
        if not isinstance(outcome, Applied) and task is not None and task.status in STOPPED:
            # The agent started work that was cancelled or timed out: tell it again to stop.
            await self._ledger.stop(task, f"task is {task.status.value}")

    async def _stop_foreign(self, outcome: Outcome, update: StatusUpdate) -> bool:
        """An agent at work on an attempt it does not hold (a duplicate delivery, a lost agent
        back): stop that run, on that agent only (once: when its refusal was recorded)."""
        if not (isinstance(outcome, Ignored) and outcome.recorded and outcome.task is not None):
            return False
        await self._ledger.stop(outcome.task, outcome.reason, update.agent_id, update.attempt)
        return True

    async def on_result(self, result: WorkResult) -> None:
        # Cancelled while it ran, the result settles the cancel instead (Finish.replacement).
        outcome = await self._ledger.apply(result.task_id, _finish(result))
        _log_result(result, outcome)

    async def _started_and_finished(self, waiting: _Starting, result: WorkResult) -> None:
        """The attempt's `running` came with its result: one write for both when the ledger
        can (else the `running` as on its own, then the result). The `running`'s handler
        waits on `joined`, so neither message is acked before its change is stored."""
        update = waiting.update
        joined = waiting.joined = asyncio.get_running_loop().create_future()
        waiting.wake()
        try:
            start = Start(update.agent_id, update.attempt)
            stored = await self._ledger.apply_together(update.task_id, start, _finish(result))
            if stored is None:
                await self._start(update)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                joined.cancel()
            else:
                joined.set_exception(exc)
            raise
        joined.set_result(None)
        if stored is None:
            await self.on_result(result)
        else:
            _log_result(result, Applied(stored))

    async def on_heartbeat(self, beat: Heartbeat) -> None:
        agent = Agent(
            agent_id=beat.agent_id,
            agent_type=beat.agent_type,
            status=AgentStatus.OFFLINE if beat.goodbye else beat.status,
            capabilities=beat.capabilities,
            max_concurrency=beat.max_concurrency,
            running_tasks=() if beat.goodbye else beat.running_tasks,  # gone: runs nothing
            resources=beat.resources,
            last_heartbeat_at=self._clock.now(),
        )
        stored = await self._agents.record(agent)
        if beat.goodbye:
            self._live_agents.discard(beat.agent_id)
            log.info("agent offline: said goodbye", extra=agent_fields(stored))
            await self._leases.agent_lost(stored, frozenset(beat.running_tasks))
            return
        if beat.agent_id not in self._live_agents:
            if len(self._live_agents) >= MAX_REMEMBERED_AGENTS:
                self._live_agents.clear()  # agents of past runs; at worst one line again
            self._live_agents.add(beat.agent_id)
            log.info(
                "agent registered: %s, %d at once, handles %s",
                stored.agent_type,
                stored.max_concurrency,
                ", ".join(stored.capabilities) or "nothing advertised",
                extra=agent_fields(stored),
            )
        await self._notifier.publish(AgentUpdated(stored))
        await self._leases.reclaim_unlisted(stored, stored.last_heartbeat_at)


def _after_turns(turns: int, then: Callable[[], None]) -> None:
    """Call `then` after `turns` turns of the loop (callbacks: cheaper than task steps)."""
    loop = asyncio.get_running_loop()
    if turns <= 0:
        then()
    else:
        loop.call_soon(_after_turns, turns - 1, then)


def _finish(result: WorkResult) -> Finish:
    return Finish(
        result.attempt,
        result.status,
        result.agent_id,
        result.output,
        result.result,
        result.error_message,
        result.exit_code,
        result.duration_ms,
        result.retryable,
    )


def _log_result(result: WorkResult, outcome: Outcome) -> None:
    if not isinstance(outcome, Applied) or outcome.task.status is TaskStatus.CANCELLED:
        return
    done = outcome.task
    # The attempt that ended, not the next one a retry made.
    fields = task_fields(
        done, attempt=result.attempt, status=result.status.value, duration_ms=result.duration_ms
    )
    if done.status is TaskStatus.PENDING:  # the retry policy gave it another attempt
        log.info(
            "result: %s in %s ms; attempt %d of %d next%s",
            result.status.value,
            result.duration_ms,
            done.attempt,
            done.max_attempts,
            "" if done.next_attempt_at is None else f" at {done.next_attempt_at:%H:%M:%S.%f}",
            extra=fields,
        )
        return
    log.info("result: %s in %s ms", done.status.value, result.duration_ms, extra=fields)


class _Starting:
    """A `running` report waiting one turn of the loop for a result of the same attempt;
    `settled` once it is handled (the task's later messages wait for it)."""

    __slots__ = ("joined", "open", "settled", "update", "woken")

    def __init__(self, update: StatusUpdate) -> None:
        loop = asyncio.get_running_loop()
        self.update = update
        self.open = True  # no other message of the task came in between: a result may join
        self.woken: asyncio.Future[None] = loop.create_future()  # its wait is over
        self.joined: asyncio.Future[None] | None = None  # set when a result took it on
        self.settled: asyncio.Future[None] = loop.create_future()

    def wake(self) -> None:
        if not self.woken.done():
            self.woken.set_result(None)

    def takes(self, result: WorkResult) -> bool:
        same = result.attempt == self.update.attempt and result.agent_id == self.update.agent_id
        return self.open and self.joined is None and same
