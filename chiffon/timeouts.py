"""What a timed-out attempt says, the same whichever side noticed first: the agent's own timer
or the orchestrator's deadline."""

from __future__ import annotations

from typing import Final

TIMEOUT_EXIT_CODE: Final = 124  # what `timeout(1)` exits with


def timeout_error(timeout_s: float | None) -> str:
    return f"timed out after {float(timeout_s or 0)}s"
