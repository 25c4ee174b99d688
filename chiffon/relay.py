"""The outbox relay: publishes what the store recorded, until the bus confirmed it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from chiffon.events import TaskUpdated
from chiffon.model import OutboxMessage, TaskAnnouncement
from ports.bus import PartiallyPublished, WorkBus
from ports.notifier import Notifier
from ports.task_repository import TaskRepository

log = logging.getLogger(__name__)


class OutboxRelay:
    """Sends unsent outbox messages through the bus and marks them sent. Woken at once after
    a local write; also polls, so rows written by another replica or before a restart go out.
    A failed publish leaves the rows unsent and is retried with capped exponential backoff."""

    def __init__(
        self,
        tasks: TaskRepository,
        bus: WorkBus,
        notifier: Notifier,
        batch: int = 200,
        poll_s: float = 1.0,
        max_backoff_s: float = 5.0,
    ) -> None:
        self._tasks = tasks
        self._bus = bus
        self._notifier = notifier
        self._batch = batch
        self._poll_s = poll_s
        self._max_backoff_s = max_backoff_s
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def drain(self) -> int:
        """Send everything pending now; returns how many messages went out."""
        sent = 0
        while True:
            n = await self._tasks.relay_outbox(self._publish, self._batch)
            sent += n
            if n < self._batch:
                return sent

    async def _publish(self, batch: Sequence[OutboxMessage]) -> None:
        """Announcements first (flushed: with the broker before anything else goes out), then
        the bus messages, so a change is always heard before anything it caused."""
        told = [m for m in batch if isinstance(m.payload, TaskAnnouncement)]
        for m in told:
            if isinstance(m.payload, TaskAnnouncement):
                await self._notifier.publish(TaskUpdated(m.payload.task))
        await self._notifier.flush()
        rest = [m for m in batch if not isinstance(m.payload, TaskAnnouncement)]
        try:
            await self._bus.publish(rest)
        except PartiallyPublished as exc:
            sent = exc.confirmed | {m.message_id for m in told}
            raise PartiallyPublished(str(exc), frozenset(sent)) from exc

    async def run(self) -> None:
        backoff = 0.05
        while True:
            try:
                await self.drain()
                backoff = 0.05
            except Exception as exc:
                log.warning("outbox relay: publish failed (%s); retrying in %.2fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff_s)
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_s):
                    await self._wake.wait()
            self._wake.clear()
