"""What runs beside a replica's HTTP edge, started and stopped as one: the agents' messages in,
the outbox relay, the sweeper, retention, the scheduler, and memory mode's in-process agent
(drained at stop: ADR 0007)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Final

from chiffon.agent import AgentRuntime
from chiffon.relay import OutboxRelay
from chiffon.retention import RetentionSweeper
from chiffon.scheduler import Scheduler
from chiffon.sweeper import Sweeper
from chiffon.tracking import AgentMessageTracker
from ports.bus import WorkBus
from ports.observer import ChangeObserver

log = logging.getLogger("chiffon")

SCHEDULER_TICK_S: Final = 0.25  # the drift bound: a fire waits up to one tick
STOP_LOOPS_S: Final = 5.0  # the loops get this long to stop at shutdown


class InProcessBus:
    """Memory mode: the bus lives and dies with this process, and so does its agent (if any),
    with a way to know the agent's last reports were applied once it stopped."""

    def __init__(
        self,
        agent: AgentRuntime | None,
        reports_applied: Callable[[float], Awaitable[bool]],
    ) -> None:
        self.agent = agent
        self.reports_applied = reports_applied


class ReplicaLoops:
    def __init__(
        self,
        bus: WorkBus,
        tracker: AgentMessageTracker,
        observer: ChangeObserver,
        loops: tuple[OutboxRelay, Sweeper, RetentionSweeper, Scheduler],
        sweep_interval_s: float,
        in_process: InProcessBus | None = None,
    ) -> None:
        self._bus, self._tracker, self._observer = bus, tracker, observer
        self._relay, self._sweeper, self._retention, self._scheduler = loops
        self._sweep_interval_s = sweep_interval_s
        self._in_process = in_process
        self._running: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self._bus.consume_agent_messages(self._tracker.handle, self._observer.refused)
        # An in-process bus starts empty: what it held before is gone, the relay resends it.
        lost_work = self._in_process is not None
        self._running = [
            asyncio.create_task(self._relay.run(lost_work), name="outbox-relay"),
            asyncio.create_task(self._sweeper.run(self._sweep_interval_s), name="sweeper"),
            asyncio.create_task(self._retention.run(), name="retention"),
            asyncio.create_task(self._scheduler.run(SCHEDULER_TICK_S), name="scheduler"),
        ]
        if self._in_process is not None and self._in_process.agent is not None:
            await self._in_process.agent.start()

    async def stop(self, grace_s: float, hurry: asyncio.Event) -> None:
        if self._in_process is not None and self._in_process.agent is not None:
            await _drain(self._in_process.agent, self._in_process.reports_applied, grace_s, hurry)
        for loop in self._running:
            loop.cancel()
        # Bounded: a loop caught in a broker or database call must not hold the exit forever.
        _stopped, stuck = await asyncio.wait(self._running, timeout=STOP_LOOPS_S)
        for loop in stuck:
            log.warning(
                "%s did not stop within %.0fs; shutting down anyway", loop.get_name(), STOP_LOOPS_S
            )
        await self._bus.close()


async def _drain(
    agent: AgentRuntime,
    reports_applied: Callable[[float], Awaitable[bool]],
    grace_s: float,
    hurry: asyncio.Event,
) -> None:
    """The in-process agent takes no more work, finishes what runs within `grace_s` (or until
    `hurry`: a second Ctrl-C), and hands the rest back as lost (its goodbye); the
    orchestrator applies its last results and the loss policy before it stops, so the next
    start (or, on PostgreSQL, another replica) retries them (ADR 0007)."""
    running = len(agent.running_tasks)
    if running:
        log.info(
            "finishing %d running task(s) for up to %.0fs (CHIFFON_SHUTDOWN_GRACE_S); "
            "Ctrl-C again stops now",
            running,
            grace_s,
        )
    await agent.stop(grace_s=grace_s, hurry=hurry)
    if not await reports_applied(STOP_LOOPS_S):
        log.warning("the agent's last reports were not all applied within %.0fs", STOP_LOOPS_S)
