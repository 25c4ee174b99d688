"""Ordered, at-least-once delivery of an agent's statuses and results."""

from __future__ import annotations

import asyncio
import contextlib
import logging

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

    def send(self, message: StatusUpdate | WorkResult) -> asyncio.Future[None]:
        """Queue `message`; the future is done once the bus took it (publish confirmed)."""
        published: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((message, published))
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._drain())
        return published

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
                    break
                except Exception as exc:
                    log.warning("report not sent (%s); retrying in %.2fs", exc, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self._max_backoff_s)
