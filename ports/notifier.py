"""Ports: announcing changes, and listening to them (for live push)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from chiffon.events import Event

Listener = Callable[[Event], None]


class Notifier(Protocol):
    """Publishes events about accepted changes to every listener, on every replica."""

    async def publish(self, event: Event) -> None:
        """Hand the event over for delivery, in publish order; never blocks on slow listeners
        nor on the broker (events are not durable: the store is the truth)."""
        ...

    async def flush(self) -> None:
        """Return once every event published so far is on its way ahead of what the work bus
        publishes next (written to the broker on the channel the bus shares, or delivered to
        the local listeners), so what is sent next is heard after it. Does not wait for the
        broker's confirm: events are not durable."""
        ...


class EventSource(Protocol):
    """Where live-push code listens. Listeners are called in publish order and must not block."""

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` for every event from now on; returns the unsubscribe function."""
        ...
