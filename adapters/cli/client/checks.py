"""Command-line values checked before any request, with errors that say what is allowed."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import urlsplit

from adapters.cli.client.verbs import UsageError
from chiffon.model import AgentStatus, TaskStatus, WaitingReason

PRIORITIES: Final = range(1, 6)
AT_EXAMPLES: Final = (
    "2026-12-24T18:30:00Z (UTC), 2026-12-24T18:30+01:00 (with its offset), "
    "or 2026-12-24 18:30 (this machine's local time)"
)
# What people paste after the server's address: the API's or the page's prefix.
KNOWN_PATHS: Final = ("", "/api", "/api/v1", "/ui", "/health")
URL_SHAPE: Final = "the server's address, like http://127.0.0.1:8080 or https://chiffon.example"


def priority(value: int | None) -> int | None:
    if value is not None and value not in PRIORITIES:
        raise UsageError(
            f"--priority must be 1 (background) .. 5 (critical, delivered first), got {value}"
        )
    return value


def at_time(text: str | None) -> str | None:
    """--at as ISO 8601 with an offset; a time without one is this machine's local time."""
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"--at {text!r} is not a time: use {AT_EXAMPLES}; --delay S starts S seconds from now"
        ) from None
    return (when if when.tzinfo else when.astimezone()).isoformat()


Named = type[TaskStatus] | type[AgentStatus] | type[WaitingReason]


AGO: Final = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def when(option: str, text: str | None) -> str | None:
    """A time as `15m` / `2h` / `3d` ago (s, m, h, d, w) or as --at takes it."""
    if text is None:
        return None
    ago = AGO.match(text.strip().lower())
    if ago:
        seconds = float(ago.group(1)) * UNITS[ago.group(2)]
        return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat()
    try:
        return at_time(text)
    except UsageError:
        raise UsageError(
            f"{option} {text!r} is not a time: use 15m, 2h, 3d (ago; s m h d w) or {AT_EXAMPLES}"
        ) from None


def one_of(option: str, value: str | None, allowed: Named) -> str | None:
    names = [member.value for member in allowed]
    if value is not None and value not in names:
        raise UsageError(f"{option} must be one of {', '.join(names)}; got {value!r}")
    return value


def server_url(text: str) -> str:
    """The server's base URL from what was given: `host:port` gets http://, a pasted /api,
    /api/v1 or /ui prefix is dropped; anything else is refused with the shape wanted."""
    given = text.strip()
    if "://" not in given:
        given = f"http://{given}"
    parts = urlsplit(given)
    path = parts.path.rstrip("/")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--url {text!r} is not {URL_SHAPE}")
    if path not in KNOWN_PATHS or parts.query or parts.fragment:
        raise UsageError(f"--url {text!r} has a path: give {URL_SHAPE} (no /api/...)")
    return f"{parts.scheme}://{parts.netloc}"


def checked(verb: str, options: Mapping[str, Any]) -> Mapping[str, Any]:
    """The options with the values a request needs checked (or made explicit) first."""
    opts = dict(options)
    if verb == "dispatch":
        opts["priority"] = priority(opts.get("priority"))
        opts["not_before"] = at_time(opts.get("not_before"))
    elif verb in ("tasks", "cancel"):
        one_of("--status", opts.get("status"), TaskStatus)
        one_of("--waiting", opts.get("waiting_reason"), WaitingReason)
        opts["created_after"] = when("--since", opts.get("since"))
        opts["created_before"] = when("--before", opts.get("before"))
    elif verb == "audit":
        opts["created_after"] = when("--since", opts.get("since"))
    elif verb == "agents":
        one_of("--status", opts.get("status"), AgentStatus)
    return opts


def details_line(details: object) -> str:
    """What a 400 says of each field ({"priority": ["Must be ..."]}), in one line."""
    if not isinstance(details, dict) or not details:
        return ""
    said = []
    for field, messages in details.items():
        text = " ".join(str(m) for m in messages) if isinstance(messages, list) else str(messages)
        said.append(f"{field}: {text}")
    return " (" + "; ".join(said) + ")"
