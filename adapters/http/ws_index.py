"""Which connections want an event, found without looking at anyone else's subscriptions: an
event is wanted by at most three subscriptions (its task, its trace, its topic), so a change
costs the same with 10 subscriptions on the server or 10,000."""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import Generic, TypeVar

from adapters.http.ws_protocol import Subscription

# A connection (ws_connection's Connection); generic so this index does not import the
# module that imports it.
Connection = TypeVar("Connection", bound=Hashable)


class SubscriptionIndex(Generic[Connection]):
    """Subscription -> the connections holding it (active, or pending while its snapshot is
    read), each with a count, since a connection may hold one both ways at once."""

    def __init__(self) -> None:
        self._holders: dict[Subscription, dict[Connection, int]] = {}

    def add(self, sub: Subscription, conn: Connection) -> None:
        holders = self._holders.setdefault(sub, {})
        holders[conn] = holders.get(conn, 0) + 1

    def remove(self, sub: Subscription, conn: Connection) -> None:
        holders = self._holders.get(sub)
        if holders is None or conn not in holders:
            return
        if holders[conn] > 1:
            holders[conn] -= 1
            return
        del holders[conn]
        if not holders:
            del self._holders[sub]

    def interested(self, subs: tuple[Subscription, ...]) -> Iterator[Connection]:
        """Each connection holding any of `subs`, once."""
        if len(subs) == 1:
            yield from list(self._holders.get(subs[0], ()))
            return
        seen: dict[Connection, None] = {}
        for sub in subs:
            seen.update(dict.fromkeys(self._holders.get(sub, ())))
        yield from seen

    def __len__(self) -> int:
        return len(self._holders)
