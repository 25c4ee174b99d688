"""Routing: which agent type serves a work type."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

import attrs

DEFAULT_ROUTES: Mapping[str, str] = {
    "ansible": "infra",
    "docker": "infra",
    "shell_script": "infra",
    "deploy_service": "infra",
    "run_playbook": "infra",
    "metrics": "desktop",
    "gpu_status": "desktop",
    "resource_check": "desktop",
    "code_gen": "code",
    "code_review": "code",
    "research": "research",
    "echo": "demo",
    "sleep": "demo",
    "fail": "demo",
}


class RouteSource(StrEnum):
    TABLE = "table"  # the default table or CHIFFON_ROUTES
    ADVERTISED = "advertised"  # a live agent's heartbeat capabilities


@attrs.frozen
class Route:
    """One work type a dispatch can name, the agent type it goes to, and who said so."""

    work_type: str
    agent_type: str
    source: RouteSource


@attrs.frozen
class RoutingTable:
    """A static work_type -> agent_type table; agents' advertised capabilities extend it."""

    routes: Mapping[str, str] = attrs.field(factory=lambda: dict(DEFAULT_ROUTES))

    def lookup(self, work_type: str, advertised: Iterable[tuple[str, str]] = ()) -> str | None:
        """The agent type for `work_type`: the table first, then (agent_type, work_type) pairs
        advertised by agents, so a configured route always wins over a heartbeat."""
        if work_type in self.routes:
            return self.routes[work_type]
        for agent_type, served in advertised:
            if served == work_type:
                return agent_type
        return None

    def known(self, advertised: Iterable[tuple[str, str]] = ()) -> list[Route]:
        """Every work type `lookup` resolves, sorted by work_type, each with the agent type
        `lookup` would pick (the table wins, then the first agent type advertising it)."""
        routes = {w: Route(w, a, RouteSource.TABLE) for w, a in self.routes.items()}
        for agent_type, work_type in advertised:
            routes.setdefault(work_type, Route(work_type, agent_type, RouteSource.ADVERTISED))
        return [routes[w] for w in sorted(routes)]

    @classmethod
    def parse(cls, spec: str, base: Mapping[str, str] = DEFAULT_ROUTES) -> RoutingTable:
        """Extend `base` with "work_type=agent_type,..." (the CHIFFON_ROUTES format)."""
        routes = dict(base)
        for item in filter(None, (part.strip() for part in spec.split(","))):
            work_type, sep, agent_type = item.partition("=")
            if not sep or not work_type.strip() or not agent_type.strip():
                raise ValueError(f"bad route {item!r}: expected work_type=agent_type")
            routes[work_type.strip()] = agent_type.strip()
        return cls(routes)
