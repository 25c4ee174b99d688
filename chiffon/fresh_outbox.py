"""Outbox messages this process has just committed, handed to the relay to publish at once."""

from __future__ import annotations

import asyncio
import heapq
from collections import deque
from collections.abc import Sequence
from datetime import datetime

from chiffon.model import OutboxMessage


class FreshOutbox:
    """Filled by whoever commits outbox messages (the ledger), emptied by the relay's fast
    path. Past `max_waiting` messages, newer ones are left to the relay's sweep, which finds
    every committed message anyway: memory stays bounded under any load."""

    def __init__(self, max_waiting: int = 10_000) -> None:
        self._max = max_waiting
        self._messages: deque[OutboxMessage] = deque()
        self._due: list[datetime] = []  # a heap of the times delayed messages are due
        self.wake = asyncio.Event()

    def submit(self, messages: Sequence[OutboxMessage]) -> None:
        """Messages to send now; those with `not_before` are the sweep's (sent when due):
        only their time is remembered, so the relay wakes up for it."""
        now = [m for m in messages if m.not_before is None]
        for later in (m.not_before for m in messages if m.not_before is not None):
            if len(self._due) < self._max:  # past that, the sweep's poll finds them anyway
                heapq.heappush(self._due, later)
        if now and len(self._messages) + len(now) <= self._max:  # all or none: keeps order
            self._messages.extend(now)
        if messages:
            self.wake.set()

    def next_due(self) -> datetime | None:
        """The earliest time a delayed message is due, of those submitted (None: none)."""
        return self._due[0] if self._due else None

    def due_passed(self, now: datetime) -> None:
        """The sweep sent what was due by `now`."""
        while self._due and self._due[0] <= now:
            heapq.heappop(self._due)

    def take(self, limit: int) -> list[OutboxMessage]:
        """Up to `limit` messages, oldest first."""
        return [self._messages.popleft() for _ in range(min(limit, len(self._messages)))]

    def clear(self) -> None:
        self._messages.clear()

    def __len__(self) -> int:
        return len(self._messages)
