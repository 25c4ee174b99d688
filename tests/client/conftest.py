"""Client tests run the real app, wired by the composition root, on a real port."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import pytest
from aiohttp.test_utils import TestServer

from composition_root import Orchestrator, Settings, build_container, wire_orchestrator

HEARTBEAT_S = 0.2


@attrs.frozen
class Served:
    url: str
    wired: Orchestrator
    server: TestServer


Serve = Callable[..., Awaitable[Served]]


@pytest.fixture
def serve(aiohttp_server: Any) -> Serve:
    """`await serve(**settings)`: the orchestrator listening on 127.0.0.1 and its URL
    (`instances=` replace adapters, `middlewares=` go in front of the app's)."""

    async def start(**settings: Any) -> Served:
        instances: dict[Any, object] = settings.pop("instances", {})
        middlewares = settings.pop("middlewares", [])
        base: dict[str, Any] = {"heartbeat_interval_s": HEARTBEAT_S, "shutdown_grace_s": 0.2}
        wired = wire_orchestrator(build_container(Settings(**{**base, **settings}), instances))
        wired.app.middlewares[:0] = middlewares  # outermost, before the app is frozen
        server = await aiohttp_server(wired.app)
        return Served(str(server.make_url("")).rstrip("/"), wired, server)

    return start
