"""Ordered, at-least-once delivery of an agent's statuses and results."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from uuid import UUID

from chiffon.model import StatusUpdate, WorkResult
from ports.bus import AgentBus

log = logging.getLogger(__name__)


class Reporter:
    """Queues progress and results and publishes them in order, retrying a failed publish with
    capped backoff, so a broker blip loses no result (the orchestrator ignores duplicates)."""

    def __init__(self, bus: AgentBus, max_backoff_s: float = 5.0) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[tuple[StatusUpdate | WorkResult, asyncio.Future[None]]] = (
            asyncio.Queue()
        )
        self._max_backoff_s = max_backoff_s
        self._pump: asyncio.Task[None] | None = None
        self._unsent: dict[UUID, int] = {}  # tasks with a result queued, not yet published

    def send(self, message: StatusUpdate | WorkResult) -> asyncio.Future[None]:
        """Queue `message`; the future is done once the bus took it (publish confirmed)."""
        published: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if isinstance(message, WorkResult):
            self._unsent[message.task_id] = self._unsent.get(message.task_id, 0) + 1
        self._queue.put_nowait((message, published))
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._drain())
        return published

    def unsent_results(self) -> tuple[UUID, ...]:
        """Tasks whose result is queued here and not yet published: the orchestrator still
        has them `running` on this agent, so heartbeats list them as running."""
        return tuple(self._unsent)

    def _sent(self, task_id: UUID) -> None:
        left = self._unsent.pop(task_id, 0) - 1
        if left > 0:
            self._unsent[task_id] = left

    async def flush(self, timeout_s: float) -> None:
        """Wait until everything queued was published (or `timeout_s` passed)."""
        if self._pump is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await asyncio.shield(self._pump)

    async def _drain(self) -> None:
        while not self._queue.empty():
            message, published = self._queue.get_nowait()
            backoff = 0.05
            while True:
                try:
                    await self._bus.publish(message)
                    if not published.done():
                        published.set_result(None)
                    if isinstance(message, WorkResult):
                        self._sent(message.task_id)
                    break
                except Exception as exc:
                    log.warning("report not sent (%s); retrying in %.2fs", exc, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self._max_backoff_s)
