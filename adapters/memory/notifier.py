"""Driven adapter: events to listeners in this process."""

from __future__ import annotations

from collections.abc import Callable

from chiffon.events import Event
from chiffon.listeners import Listeners
from ports.notifier import EventSource, Listener, Notifier


class InMemoryNotifier(Notifier, EventSource):
    def __init__(self) -> None:
        self._listeners = Listeners()

    async def publish(self, event: Event) -> None:
        self.deliver(event)

    async def flush(self) -> None:
        return None  # publish delivers at once

    def deliver(self, event: Event) -> None:
        """Hand `event` to every local listener, in order."""
        self._listeners.deliver(event)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        return self._listeners.subscribe(listener)
