"""Port: what an agent reports of its machine in heartbeats."""

from __future__ import annotations

from typing import Protocol

from chiffon.model import JsonObject


class ResourceProbe(Protocol):
    def sample(self) -> JsonObject:
        """cpu_percent, memory_percent, load (1-minute), memory_free_mb, at least."""
        ...
