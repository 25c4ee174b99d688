"""An asyncio event loop on virtual time: when nothing is ready to run, time jumps to the next
timer instead of waiting for it. Everything that sleeps, times out or beats on the loop's
clock (handlers, heartbeats, sweeps, the relay) runs hours of its life in seconds, in an order
that depends only on what the program does (the simulation's determinism rests on it).
Only for in-memory worlds: a loop waiting on real sockets would never wake."""

from __future__ import annotations

import asyncio
from typing import Any


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        super().__init__()
        self._virtual_now = 0.0

    def time(self) -> float:
        return self._virtual_now

    def _run_once(self) -> None:
        ready: Any = self._ready  # type: ignore[attr-defined]
        scheduled: Any = self._scheduled  # type: ignore[attr-defined]
        if not ready and scheduled:
            # asyncio keeps its timers in a heap: the first is the next one due.
            self._virtual_now = max(self._virtual_now, scheduled[0].when())
        super()._run_once()  # type: ignore[misc]
