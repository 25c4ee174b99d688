"""GET /metrics: the Prometheus exposition, with store-derived gauges read at scrape time
(cached briefly, so scrapes cannot load the store); a store that is down is chiffon_store_up 0,
never a 500."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web
from aiohttp_apispec import docs
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from adapters.http.keys import SERVICE
from adapters.http.metrics.registry import ChiffonMetrics
from adapters.http.openapi import UNAUTHORIZED
from chiffon.orchestrator import OrchestratorService

log = logging.getLogger(__name__)

CACHE_S: Final = 5.0
STORE_TIMEOUT_S: Final = 2.0
METRICS = web.AppKey("metrics", ChiffonMetrics)
CONNECTIONS: web.AppKey[Callable[[], int]] = web.AppKey("websocket_connections")


class StoreGauges:
    """Refreshes the gauges that come from the store at most every CACHE_S seconds."""

    def __init__(self, metrics: ChiffonMetrics) -> None:
        self._metrics = metrics
        self._fresh_until = 0.0
        self._lock = asyncio.Lock()

    async def refresh(self, service: OrchestratorService) -> None:
        async with self._lock:  # concurrent scrapes share one store read
            if time.monotonic() < self._fresh_until:
                return
            try:
                async with asyncio.timeout(STORE_TIMEOUT_S):
                    await self._read(service)
                self._metrics.store_up.set(1)
            except Exception as exc:  # the store is down or slow: say so, answer anyway
                log.warning("metrics: the store did not answer (%s)", exc or type(exc).__name__)
                self._metrics.store_up.set(0)
            self._fresh_until = time.monotonic() + CACHE_S

    async def _read(self, service: OrchestratorService) -> None:
        counts = await service.store_counts()
        agents = await service.list_agents()
        m = self._metrics
        for status, n in counts.tasks_by_status.items():
            m.tasks.labels(status.value).set(n)
        m.outbox_unsent.set(counts.outbox_unsent)
        m.agents.clear()  # agents come and go: only what exists now
        for agent in agents:
            m.agents.labels(agent.agent_type, agent.status.value).inc()


def install(app: web.Application, metrics: ChiffonMetrics, connections: Callable[[], int]) -> None:
    app[METRICS] = metrics
    app[CONNECTIONS] = connections
    gauges = StoreGauges(metrics)

    async def handler(request: web.Request) -> web.Response:
        await gauges.refresh(request.app[SERVICE])
        metrics.websockets.set(request.app[CONNECTIONS]())
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/metrics", _documented(handler), allow_head=False)


def _documented(handler: Callable[[web.Request], Awaitable[web.Response]]) -> Any:
    return docs(
        tags=["health"],
        summary="Prometheus metrics (text exposition format)",
        operationId="getMetrics",
        description="Requests by route and status, tasks by status, dispatches, results, the "
        "outbox backlog, agents by type and status, WebSocket connections. See docs/operations.md.",
        responses={
            200: {
                "description": "The Prometheus text exposition format",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
            401: UNAUTHORIZED,
        },
    )(handler)
