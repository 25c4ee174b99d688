"""What every operation's OpenAPI entry shares: the error answers and the bearer scheme."""

from __future__ import annotations

from typing import Any, Final

from adapters.http.schemas import ErrorSchema


def error(description: str) -> dict[str, Any]:
    return {"schema": ErrorSchema, "description": description}


UNAUTHORIZED: Final = error("Missing or wrong bearer token (4010), with WWW-Authenticate")
BAD_REQUEST: Final = error("Invalid request: a field, filter, cursor or id (1000)")
NOT_FOUND: Final = error("Task not found (2001)")
UNAVAILABLE: Final = error("Store or bus unavailable (5030)")
NOT_JSON: Final = error("Content-Type is not application/json, or the body is compressed (1005)")
TOO_SLOW: Final = error("The body did not arrive in time (1006)")


def responses(*extra: tuple[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """The answers of a guarded operation: 401 and 503 always, plus `extra`."""
    return {401: UNAUTHORIZED, 503: UNAVAILABLE, **dict(extra)}


def post_responses(*extra: tuple[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """A POST's answers: those of `responses`, 415 and 408 (it must say it carries JSON)."""
    return responses((415, NOT_JSON), (408, TOO_SLOW), *extra)
