"""The local side of event fan-out: listeners of this process, called in order."""

from __future__ import annotations

import logging
from collections.abc import Callable

from chiffon.events import Event
from ports.notifier import Listener

log = logging.getLogger(__name__)


class Listeners:
    """Subscribed listeners; `deliver` calls each in subscription order, and a failing
    listener (logged) harms no other."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def __len__(self) -> int:
        return len(self._listeners)

    def deliver(self, event: Event) -> None:
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
