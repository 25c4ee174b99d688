"""Driven adapter: events to listeners in this process."""

from __future__ import annotations

import logging
from collections.abc import Callable

from chiffon.events import Event
from ports.notifier import EventSource, Listener, Notifier

log = logging.getLogger(__name__)


class InMemoryNotifier(Notifier, EventSource):
    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    async def publish(self, event: Event) -> None:
        self.deliver(event)

    async def flush(self) -> None:
        return None  # publish delivers at once

    def deliver(self, event: Event) -> None:
        """Hand `event` to every local listener, in order; a failing listener harms no other."""
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("event listener failed")

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe
