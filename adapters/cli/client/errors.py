"""The client's errors: one type for every API error, one for a server that is not there."""

from __future__ import annotations

from typing import Any, Final

# The HTTP status of an error code, for errors that come in a WebSocket frame (no status there).
STATUS_BY_CODE: Final = {
    1000: 400,
    1001: 400,
    1003: 409,
    1004: 413,
    2001: 404,
    2002: 400,
    4010: 401,
    5000: 500,
    5030: 503,
}


class ChiffonClientError(Exception):
    """Base of the client's errors."""


class ApiError(ChiffonClientError):
    """The API answered with an error body: `{error_code, error_message, trace_id, details}`.

    `error_code` is None only when the answer was not a chiffon error body (a proxy's page)."""

    def __init__(
        self,
        status: int,
        error_code: int | None,
        error_message: str,
        trace_id: str | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(error_message)
        self.status = status
        self.error_code = error_code
        self.error_message = error_message
        self.trace_id = trace_id
        self.details = details

    def __str__(self) -> str:
        code = f"error_code {self.error_code}" if self.error_code is not None else "no error_code"
        return f"{self.error_message} ({code}, HTTP {self.status})"

    @classmethod
    def from_body(cls, status: int, body: Any, reason: str = "") -> ApiError:
        """The error a response of `status` carries; a body that is not ours still gives one."""
        if isinstance(body, dict) and isinstance(body.get("error_code"), int):
            return cls(
                status,
                body["error_code"],
                str(body.get("error_message", "")),
                body.get("trace_id"),
                body.get("details"),
            )
        text = f"HTTP {status} {reason}".strip()
        return cls(status, None, f"not a chiffon API answer: {text}")

    @classmethod
    def from_frame(cls, frame: dict[str, Any]) -> ApiError:
        """An error frame of the WebSocket (it has no HTTP status: derived from the code)."""
        code = frame.get("error_code")
        status = STATUS_BY_CODE.get(code, 500) if isinstance(code, int) else 500
        return cls.from_body(status, frame)


class ServerUnreachable(ChiffonClientError):
    """Nothing answers at `url` (connection refused, unknown host, connection dropped)."""

    def __init__(self, url: str, reason: str = "") -> None:
        super().__init__(f"no chiffon at {url}" + (f": {reason}" if reason else ""))
        self.url = url
        self.reason = reason


class TransportFailed(ChiffonClientError):
    """The server answered, but not in HTTP we could read (a cut or garbled answer)."""
