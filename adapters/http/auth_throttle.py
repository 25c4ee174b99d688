"""Wrong tokens slowed per address: a token bucket of failures, so guessing the token at the
speed of the server (about 2,800 tries a second) becomes one try a second."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

from aiohttp import web

from adapters.http.edge_errors import TooManyAuthFailures

BURST: Final = 10  # wrong tokens an address may send at once (typos, a misconfigured client)
PER_S: Final = 1.0  # then one more per second
MAX_ADDRESSES: Final = 10_000  # addresses remembered (least recently failing forgotten first)


class AuthThrottle:
    """`check(address)` before comparing a token; `failed(address)` after a wrong one. While an
    address is out of tries, every attempt from it carrying a token is refused unchecked (a
    right guess must not get through faster), with the seconds to wait."""

    def __init__(
        self,
        burst: int = BURST,
        per_s: float = PER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst, self.per_s, self.clock = burst, per_s, clock
        self._tries: OrderedDict[str, tuple[float, float]] = OrderedDict()  # address -> (left, at)
        self.refused = 0  # attempts refused unchecked, for tests and metrics

    def check(self, address: str) -> None:
        left = self._left(address)
        if left < 1:
            self.refused += 1
            wait = max(1, math.ceil((1 - left) / self.per_s))
            raise TooManyAuthFailures(
                f"too many wrong tokens from this address; try again in {wait} s", wait
            )

    def failed(self, address: str) -> None:
        self._tries[address] = (self._left(address) - 1, self.clock())
        self._tries.move_to_end(address)
        while len(self._tries) > MAX_ADDRESSES:
            self._tries.popitem(last=False)

    def _left(self, address: str) -> float:
        left, at = self._tries.get(address, (float(self.burst), self.clock()))
        return min(float(self.burst), left + (self.clock() - at) * self.per_s)


AUTH_THROTTLE = web.AppKey("auth_throttle", AuthThrottle)
