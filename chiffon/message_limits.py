"""Limits on what agents report, so one odd message can neither break a store column nor grow
the orchestrator: a message out of bounds is refused whole (the bus dead-letters it)."""

from __future__ import annotations

import json
from typing import Final

from chiffon.credentials import MAX_TOKEN_CHARS
from chiffon.model import AgentMessage, Heartbeat, StatusUpdate, WorkResult

INT32_MAX: Final = 2**31 - 1
INT64_MAX: Final = 2**63 - 1
MAX_TEXT_CHARS: Final = 1024 * 1024  # output is kept to its last 64 KiB; a message to 1 MiB
MAX_NAME_CHARS: Final = 200
MAX_LIST_ITEMS: Final = 10_000
MAX_CONCURRENCY: Final = 10_000
MAX_CAPABILITIES: Final = 1000  # the work types one agent advertises
MAX_RESOURCES_BYTES: Final = 16 * 1024  # a heartbeat's resources, as compact JSON


class InvalidAgentMessage(ValueError):
    """An agent message with a value out of the documented bounds."""


def check_agent_message(message: AgentMessage) -> None:
    """Raise InvalidAgentMessage naming the first field out of bounds."""
    if isinstance(message, Heartbeat):
        _check_heartbeat(message)
        return
    _within("attempt", message.attempt, 1, INT32_MAX)
    _text("lease", message.lease, MAX_TOKEN_CHARS)
    if isinstance(message, StatusUpdate):
        _within("progress_percent", message.progress_percent, -INT32_MAX, INT32_MAX)
        _text("message", message.message)
    else:
        _check_result(message)


def _check_result(result: WorkResult) -> None:
    _within("exit_code", result.exit_code, -INT32_MAX, INT32_MAX)
    _within("duration_ms", result.duration_ms, 0, INT64_MAX)
    _text("output", result.output)
    _text("error_message", result.error_message)


def _check_heartbeat(beat: Heartbeat) -> None:
    _within("max_concurrency", beat.max_concurrency, 1, MAX_CONCURRENCY)
    _text("agent_type", beat.agent_type, MAX_NAME_CHARS)
    if not beat.agent_type:
        raise InvalidAgentMessage("agent_type must not be empty")
    _text("agent_key", beat.agent_key, MAX_TOKEN_CHARS)
    if len(beat.capabilities) > MAX_CAPABILITIES:
        raise InvalidAgentMessage(f"capabilities: more than {MAX_CAPABILITIES} items")
    if len(beat.running_tasks) > MAX_LIST_ITEMS:
        raise InvalidAgentMessage(f"running_tasks: more than {MAX_LIST_ITEMS} items")
    for capability in beat.capabilities:
        _text("capabilities", capability, MAX_NAME_CHARS)
    size = len(json.dumps(beat.resources, separators=(",", ":")))
    if size > MAX_RESOURCES_BYTES:
        raise InvalidAgentMessage(
            f"resources: {size} bytes of JSON; the limit is {MAX_RESOURCES_BYTES}"
        )


def _within(name: str, value: int | None, low: int, high: int) -> None:
    if value is not None and not low <= value <= high:
        raise InvalidAgentMessage(f"{name} out of range ({low}..{high})")


def _text(name: str, value: str | None, limit: int = MAX_TEXT_CHARS) -> None:
    if value is not None and len(value) > limit:
        raise InvalidAgentMessage(f"{name} longer than {limit} characters")
