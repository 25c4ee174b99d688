"""Domain errors, each with a stable numeric error_code that the API returns."""

from __future__ import annotations

from typing import Any


class ChiffonError(Exception):
    """Base of every error the API reports; `error_code` is part of the public contract."""

    error_code = 5000

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidRequest(ChiffonError):
    error_code = 1000


class UnknownWorkType(ChiffonError):
    error_code = 1001


class TaskIdConflict(ChiffonError):
    """The task_id is already used by a different request."""

    error_code = 1003


class PayloadTooLarge(ChiffonError):
    error_code = 1004


class UnsupportedMediaType(ChiffonError):
    """A body that is not `application/json`, or is compressed."""

    error_code = 1005


class RequestTimeout(ChiffonError):
    """The request (headers or body) did not arrive in time."""

    error_code = 1006


class TaskNotFound(ChiffonError):
    error_code = 2001


class NotCancellable(ChiffonError):
    error_code = 2002


class NotRerunnable(ChiffonError):
    """A rerun of a task that has not finished (it would run the same work twice at once)."""

    error_code = 2020


class NoLiveAgent(ChiffonError):
    """A dispatch with on_no_agent "reject" while no live agent of its type exists."""

    error_code = 3001


class Unauthorized(ChiffonError):
    error_code = 4010


class ForbiddenOrigin(ChiffonError):
    """A browser page from another origin tried to open the WebSocket."""

    error_code = 4030


class ForbiddenHost(ChiffonError):
    """With no token set, a request whose Host names none of this server's names: the mark of
    DNS rebinding (a page of another site reaching a loopback server through its own name)."""

    error_code = 4031


class TooManyAuthFailures(ChiffonError):
    """Too many wrong tokens from one address: it must wait `retry_after_s` before trying."""

    error_code = 4291

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message, {"retry_after_s": retry_after_s})
        self.retry_after_s = retry_after_s


class TooManyConnections(ChiffonError):
    """A client holds as many WebSocket connections as it may, or the server does."""

    error_code = 4290


class DependencyUnavailable(ChiffonError):
    """The store or the bus cannot be reached; nothing was half-stored."""

    error_code = 5030


class ScheduleNotFound(ChiffonError):
    error_code = 2030


class ScheduleBusy(ChiffonError):
    """The schedule kept changing under an update (another writer); try again."""

    error_code = 2031
