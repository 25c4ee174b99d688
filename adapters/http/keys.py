"""Typed application state keys (aiohttp web.AppKey)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from chiffon.orchestrator import OrchestratorService
from chiffon.schedule_service import ScheduleService

ReadinessCheck = Callable[[], Awaitable[None]]

SERVICE = web.AppKey("service", OrchestratorService)
SCHEDULES = web.AppKey("schedules", ScheduleService)
READINESS = web.AppKey("readiness", Mapping[str, ReadinessCheck])
# Browser origins besides the server's own that may call the API (CHIFFON_ALLOWED_ORIGINS).
ALLOWED_ORIGINS: web.AppKey[frozenset[str]] = web.AppKey("allowed_origins")
