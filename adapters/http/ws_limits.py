"""What one WebSocket client may cost the server, in frames, bytes and work, and the budget
all clients share; every figure is documented in docs/security.md."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Final, Protocol

import attrs

MIB: Final = 1024 * 1024


@attrs.frozen
class WsLimits:
    queue_frames: int = 1000  # frames a client may fall behind before it is closed (1013)
    queue_bytes: int = 4 * MIB  # the same, in bytes of JSON text
    total_bytes: int = 64 * MIB  # every client's queue together
    max_connections: int = 1000
    max_per_client: int = 100  # connections from one address
    max_subscriptions: int = 100  # per connection
    snapshot_tasks: int = 2000  # tasks in one trace/topic snapshot (then "truncated")
    snapshots_at_once: int = 1  # snapshots being read from the store, server-wide

    def __attrs_post_init__(self) -> None:
        for field in attrs.fields(WsLimits):
            if getattr(self, field.name) < 1:
                raise ValueError(f"WebSocket limit {field.name} must be at least 1")


class Reader(Hashable, Protocol):
    """What the budget needs of a connection (ws_connection's Connection is one): said here,
    so the budget does not import the connection that imports it."""

    @property
    def closing(self) -> bool: ...

    @property
    def queued_bytes(self) -> int: ...

    def evict(self, reason: str) -> None: ...


class ByteBudget:
    """The bytes queued for every connection together. When a frame would take the total past
    the limit, the connection with the most bytes waiting (the slowest reader) is closed to
    make room; if that is the one asking, it is refused (and closed by its caller)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.members: dict[Reader, None] = {}

    def take(self, n: int, asking: Reader) -> bool:
        while self.used + n > self.limit:
            open_ = (c for c in self.members if not c.closing)
            victim = max(open_, key=lambda c: c.queued_bytes, default=None)
            if victim is None or victim is asking or victim.queued_bytes == 0:
                return False
            victim.evict("server WebSocket memory budget exhausted: slowest reader closed")
        self.used += n
        return True

    def give_back(self, n: int) -> None:
        self.used -= n
