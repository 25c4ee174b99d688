"""Routing: which agent type serves a work type."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

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
