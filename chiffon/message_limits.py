"""Limits on what agents report, so one odd message can neither break a store column nor grow
the orchestrator: a message out of bounds is refused whole (the bus dead-letters it)."""

from __future__ import annotations

from typing import Final

from chiffon.model import AgentMessage, Heartbeat, StatusUpdate, WorkResult

INT32_MAX: Final = 2**31 - 1
INT64_MAX: Final = 2**63 - 1
MAX_TEXT_CHARS: Final = 1024 * 1024  # output is kept to its last 64 KiB; a message to 1 MiB
MAX_NAME_CHARS: Final = 200
MAX_LIST_ITEMS: Final = 10_000
MAX_CONCURRENCY: Final = 10_000


class InvalidAgentMessage(ValueError):
    """An agent message with a value out of the documented bounds."""


def check_agent_message(message: AgentMessage) -> None:
    """Raise InvalidAgentMessage naming the first field out of bounds."""
    if isinstance(message, Heartbeat):
        _check_heartbeat(message)
        return
    _within("attempt", message.attempt, 1, INT32_MAX)
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
    for name, items in (("capabilities", beat.capabilities), ("running_tasks", beat.running_tasks)):
        if len(items) > MAX_LIST_ITEMS:
            raise InvalidAgentMessage(f"{name}: more than {MAX_LIST_ITEMS} items")
    for capability in beat.capabilities:
        _text("capabilities", capability, MAX_NAME_CHARS)


def _within(name: str, value: int | None, low: int, high: int) -> None:
    if value is not None and not low <= value <= high:
        raise InvalidAgentMessage(f"{name} out of range ({low}..{high})")


def _text(name: str, value: str | None, limit: int = MAX_TEXT_CHARS) -> None:
    if value is not None and len(value) > limit:
        raise InvalidAgentMessage(f"{name} longer than {limit} characters")
