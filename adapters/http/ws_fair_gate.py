"""Snapshots shared fairly: at most a few are made at a time, and the next turn goes to the
client address that has had the fewest (start-time fair queuing), so one address re-subscribing
from 99 sockets cannot make another wait behind all of its requests."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import AsyncIterator
from typing import Final

FORGET_AFTER: Final = 4096  # addresses remembered before those at or behind the clock go


class FairGate:
    """`async with gate.turn(address):` waits for a turn. Each request gets a start tag: the
    later of the gate's clock (the tag last let in) and the end of the address's previous
    request; the smallest tag goes first (ties: first come). An address that keeps asking thus
    has tags far ahead of one that asks now, which goes next (after at most one request of
    each other address waiting at that tag). `turns` counts turns given, `last_turn` says
    which one each address had last (what the tests assert on, with counts, not time)."""

    def __init__(self, at_once: int) -> None:
        self.at_once = at_once
        self._running = 0
        self._clock = 0
        self._next: dict[str, int] = {}  # address -> start tag of its next request
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self.turns = 0
        self.last_turn: dict[str, int] = {}

    @contextlib.asynccontextmanager
    async def turn(self, address: str) -> AsyncIterator[None]:
        tag = max(self._clock, self._next.get(address, 0))
        self._next[address] = tag + 1
        if self._running < self.at_once and not self._waiting:
            self._let_in(tag)
        else:
            await self._wait(tag)
        self.turns += 1
        if len(self.last_turn) > FORGET_AFTER:
            self.last_turn.clear()
        self.last_turn[address] = self.turns
        try:
            yield
        finally:
            self._running -= 1
            self._wake()

    async def _wait(self, tag: int) -> None:
        ticket: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (tag, next(self._order), ticket))
        try:
            await ticket
        except asyncio.CancelledError:
            if ticket.done() and not ticket.cancelled():  # let in, then cancelled: pass it on
                self._running -= 1
                self._wake()
            raise

    def _let_in(self, tag: int) -> None:
        self._running += 1
        self._clock = max(self._clock, tag)
        if len(self._next) > FORGET_AFTER:  # tags behind the clock change nothing
            self._next = {a: t for a, t in self._next.items() if t > self._clock}

    def _wake(self) -> None:
        while self._waiting and self._running < self.at_once:
            tag, _, ticket = heapq.heappop(self._waiting)
            if ticket.cancelled():
                continue
            self._let_in(tag)
            ticket.set_result(None)
