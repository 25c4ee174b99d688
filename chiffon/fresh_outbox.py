"""Outbox messages this process has just committed, handed to the relay to publish at once."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence

from chiffon.model import OutboxMessage


class FreshOutbox:
    """Filled by whoever commits outbox messages (the ledger), emptied by the relay's fast
    path. Past `max_waiting` messages, newer ones are left to the relay's sweep, which finds
    every committed message anyway: memory stays bounded under any load."""

    def __init__(self, max_waiting: int = 10_000) -> None:
        self._max = max_waiting
        self._messages: deque[OutboxMessage] = deque()
        self.wake = asyncio.Event()

    def submit(self, messages: Sequence[OutboxMessage]) -> None:
        if not messages:
            return
        if len(self._messages) + len(messages) <= self._max:  # all or none: keeps order
            self._messages.extend(messages)
        self.wake.set()

    def take(self, limit: int) -> list[OutboxMessage]:
        """Up to `limit` messages, oldest first."""
        return [self._messages.popleft() for _ in range(min(limit, len(self._messages)))]

    def clear(self) -> None:
        self._messages.clear()

    def __len__(self) -> int:
        return len(self._messages)
