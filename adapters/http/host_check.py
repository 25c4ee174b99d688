"""DNS rebinding refused: with no token set, a request must name this server in its Host.

A page of another site can make its own name resolve to 127.0.0.1 and then talk to a
loopback chiffon as if same-origin; its requests still carry that name in Host. An IP literal
cannot be rebound, so any is accepted; so are `localhost`, the name chiffon listens on, and
the names the operator lists (CHIFFON_ALLOWED_HOSTS)."""

from __future__ import annotations

import ipaddress
from collections.abc import Collection
from typing import Final

from aiohttp import web
from yarl import URL

from adapters.http.edge import Guard
from adapters.http.edge_errors import ForbiddenHost

ALWAYS: Final = frozenset({"localhost"})
OPEN_PATHS: Final = frozenset({"/health"})  # liveness probes send whatever Host they like
MAX_HOSTS_KEPT: Final = 64


def host_guard(allowed: Collection[str]) -> Guard:
    """Refuse (403/4031) a request whose Host is not allowed; "*" in `allowed` turns it off."""
    names = ALWAYS | {name.lower().strip("[]") for name in allowed}
    # The answer for each Host seen: a client sends the same one every time, and parsing it
    # (an IP literal: URL, then ipaddress) cost 2.3 µs a request. Bounded: any client may
    # send any Host, so the cache starts over when full.
    answers: dict[str, bool] = {}

    def allowed_host(host: str) -> bool:
        answer = answers.get(host)
        if answer is None:
            if len(answers) >= MAX_HOSTS_KEPT:
                answers.clear()
            answer = answers[host] = _allowed(host, names)
        return answer

    def guard(request: web.Request) -> None:
        host = request.headers.get("Host")
        if host is not None and request.path not in OPEN_PATHS and not allowed_host(host):
            raise ForbiddenHost(
                "this server is not reached by that name (DNS rebinding?); set "
                "CHIFFON_ALLOWED_HOSTS to allow it",
                {"Host": [host[:100]]},
            )

    return guard


def _allowed(host: str, names: frozenset[str]) -> bool:
    if "*" in names:
        return True
    try:
        name = (URL(f"http://{host}").raw_host or "").lower().rstrip(".")
    except ValueError:
        return False
    if name in names:
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True
