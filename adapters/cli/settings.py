"""Settings: every tunable, read strictly from CHIFFON_* variables and command-line flags.

A bad value is refused naming the variable and what it takes; an unknown CHIFFON_* name is
warned about (with the closest known one), so a typo never silently changes nothing.
"""

from __future__ import annotations

import difflib
import uuid
from collections.abc import Mapping
from typing import Any, Final

import attrs

from chiffon.routing import RoutingTable

DEMO_AGENT_TYPE: Final = "demo"
LOG_FORMATS: Final = ("text", "json")
TRUE: Final = frozenset({"1", "true", "yes", "on"})
FALSE: Final = frozenset({"0", "false", "no", "off"})
# Read by other parts (the client verbs, the tests), not by the server's settings.
OTHER_NAMES: Final = frozenset({"CHIFFON_URL", "CHIFFON_TEST_ADMIN_DSN", "CHIFFON_TEST_THOROUGH"})
LOOPBACK: Final = frozenset({"localhost", "::1", "ip6-localhost"})
MAX_WORKERS: Final = 64


class SettingError(ValueError):
    """A setting with a value chiffon cannot use; the message names it and what it takes."""


def env_name(field: str) -> str:
    return f"CHIFFON_{field.upper()}"


@attrs.frozen
class Settings:
    """Every tunable, from CHIFFON_* environment variables, overridden by command-line flags."""

    host: str = "127.0.0.1"
    port: int = 8080
    database_url: str | None = None
    amqp_url: str | None = None
    heartbeat_interval_s: float = 2.0  # an agent silent for missed_heartbeats of these is lost
    missed_heartbeats: int = 3
    unlisted_after_s: float = 30.0  # running on a live agent that stopped listing it: lost
    routes: str = ""
    api_token: str | None = None
    insecure: bool = False
    allowed_origins: str = ""
    allowed_hosts: str = ""
    log_format: str = "text"
    demo_agent: bool = True
    agent_type: str = DEMO_AGENT_TYPE
    concurrency: int = 1
    handlers: str = ""
    agent_id: str | None = None
    agent_key: str | None = None
    replica_key: str | None = None
    amqp_namespace: str = "chiffon"
    amqp_connect_wait_s: float = 5.0
    auto_migrate: bool = True
    shutdown_grace_s: float = 30.0
    ws_queue_size: int = 1000
    ws_queue_bytes: int = 4 * 1024 * 1024
    ws_total_bytes: int = 64 * 1024 * 1024
    ws_max_connections: int = 1000
    ws_max_per_client: int = 100
    retention: float = 7 * 24 * 3600.0  # seconds; read as "7d", "12h", ...
    agent_retention: float = 24 * 3600.0
    memory_max_finished: int = 10_000
    workers: int = 1

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: Any) -> Settings:
        """Settings from `env`, then `overrides` (flags); raises SettingError."""
        values: dict[str, Any] = {}
        for field in attrs.fields(cls):
            raw = env.get(env_name(field.name))
            if raw is None or (raw == "" and field.name != "api_token"):
                continue  # an empty variable is an unset one (but an empty token is a mistake)
            name = env_name(field.name)
            if field.name in DURATIONS:
                values[field.name] = duration(name, raw)
            else:
                values[field.name] = convert(name, raw, field.default)
        values.update(overrides)
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        _within("CHIFFON_PORT", self.port, 0, 65535)
        _within("CHIFFON_HEARTBEAT_INTERVAL_S", self.heartbeat_interval_s, 0.05, 3600)
        _within("CHIFFON_MISSED_HEARTBEATS", self.missed_heartbeats, 2, 1000)
        _within("CHIFFON_UNLISTED_AFTER_S", self.unlisted_after_s, 1, 86_400)
        _within("CHIFFON_CONCURRENCY", self.concurrency, 1, 10_000)
        _within("CHIFFON_AMQP_CONNECT_WAIT_S", self.amqp_connect_wait_s, 0, 3600)
        _within("CHIFFON_SHUTDOWN_GRACE_S", self.shutdown_grace_s, 0, 86_400)
        for name in ("ws_queue_size", "ws_queue_bytes", "ws_total_bytes", "ws_max_connections"):
            _within(env_name(name), getattr(self, name), 1, 2**40)
        _within("CHIFFON_WS_MAX_PER_CLIENT", self.ws_max_per_client, 1, 2**40)
        _within("CHIFFON_RETENTION", self.retention, 1, 10 * 365 * 86400)
        _within("CHIFFON_AGENT_RETENTION", self.agent_retention, 1, 10 * 365 * 86400)
        _within("CHIFFON_MEMORY_MAX_FINISHED", self.memory_max_finished, 0, 10_000_000)
        _within("CHIFFON_WORKERS", self.workers, 1, MAX_WORKERS)
        if self.workers > 1 and not (self.database_url and self.amqp_url):
            raise SettingError(
                "CHIFFON_WORKERS above 1 needs CHIFFON_DATABASE_URL and CHIFFON_AMQP_URL: each "
                "worker is a replica, and in memory mode the state lives in one process"
            )
        if self.log_format not in LOG_FORMATS:
            raise SettingError(
                f"CHIFFON_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, "
                f"not {self.log_format!r}"
            )
        if self.api_token is not None and not self.api_token.strip():
            raise SettingError(
                "CHIFFON_API_TOKEN is set but empty: give a token, or unset it to run without auth"
            )
        _check_url("CHIFFON_DATABASE_URL", self.database_url, ("postgresql", "postgres"))
        _check_url("CHIFFON_AMQP_URL", self.amqp_url, ("amqp", "amqps"))
        self._check_names()
        try:
            RoutingTable.parse(self.routes)
        except ValueError as exc:
            raise SettingError(f"CHIFFON_ROUTES: {exc}") from None

    def _check_names(self) -> None:
        if not self.agent_type.strip() or not self.agent_type.isprintable():
            raise SettingError("CHIFFON_AGENT_TYPE must be a non-empty printable name")
        if self.agent_id is not None:
            try:
                uuid.UUID(self.agent_id)
            except ValueError:
                raise SettingError(
                    f"CHIFFON_AGENT_ID must be a UUID, not {self.agent_id[:40]!r}"
                ) from None
        for origin in self.origins:
            if not origin.startswith(("http://", "https://")) or origin.count("/") != 2:
                raise SettingError(
                    f"CHIFFON_ALLOWED_ORIGINS takes origins like https://ops.example.com "
                    f"(scheme://host[:port], comma-separated), not {origin!r}"
                )

    @property
    def in_memory_bus(self) -> bool:
        return not self.amqp_url

    @property
    def origins(self) -> frozenset[str]:
        return frozenset(o.strip() for o in self.allowed_origins.split(",") if o.strip())

    @property
    def hosts(self) -> frozenset[str]:
        """Names a request's Host may give when no token is set (IP literals and localhost
        always pass): the one chiffon listens on, and CHIFFON_ALLOWED_HOSTS."""
        listed = {h.strip().lower() for h in self.allowed_hosts.split(",") if h.strip()}
        return frozenset({self.host.strip("[]").lower(), *listed})

    @property
    def loopback_only(self) -> bool:
        """Whether `host` can only be reached from this machine."""
        host = self.host.strip("[]").lower()
        return host in LOOPBACK or host.startswith("127.") or host == "::1"


def convert(name: str, raw: str, default: Any) -> Any:
    """`raw` as the type of `default`; raises SettingError naming `name`."""
    text = raw.strip()
    if isinstance(default, bool):
        if text.lower() in TRUE:
            return True
        if text.lower() in FALSE:
            return False
        raise SettingError(f"{name} must be true or false (or 1/0, yes/no, on/off), not {raw!r}")
    try:
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
    except ValueError:
        kind = "a whole number" if isinstance(default, int) else "a number"
        raise SettingError(f"{name} must be {kind}, not {raw[:40]!r}") from None
    return raw


# Fields read as durations: "7d", "12h", "30m", "45s" or a number of seconds.
DURATIONS: Final = frozenset({"retention", "agent_retention"})
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(name: str, raw: str) -> float:
    text = raw.strip().lower()
    unit = _UNITS.get(text[-1:], None) if text else None
    try:
        return float(text[:-1]) * unit if unit is not None else float(text)
    except ValueError:
        raise SettingError(
            f"{name} must be a duration such as 7d, 12h, 30m, 45s or a number of seconds, "
            f"not {raw[:40]!r}"
        ) from None


def unknown_names(env: Mapping[str, str]) -> list[str]:
    """One warning per CHIFFON_* variable that no setting reads, with the likely intended one."""
    known = {env_name(f.name) for f in attrs.fields(Settings)} | OTHER_NAMES
    warnings = []
    for name in sorted(n for n in env if n.startswith("CHIFFON_") and n not in known):
        close = difflib.get_close_matches(name, sorted(known), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        warnings.append(f"{name} is not a chiffon setting and is ignored{hint}")
    return warnings


def _within(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise SettingError(f"{name} must be between {low:g} and {high:g}, not {value:g}")


URL_EXAMPLES: Final = {
    "CHIFFON_DATABASE_URL": "postgresql://postgres@127.0.0.1/chiffon",
    "CHIFFON_AMQP_URL": "amqp://guest:guest@127.0.0.1:5672/",
}


def _check_url(name: str, url: str | None, schemes: tuple[str, ...]) -> None:
    if url is None:
        return
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in schemes:
        shown = f"{scheme[:20]}://..." if scheme else "a value without a scheme"
        raise SettingError(
            f"{name} must be a {schemes[0]}:// URL such as {URL_EXAMPLES[name]}, not {shown}"
        )
