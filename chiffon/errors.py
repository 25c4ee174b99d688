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


class TaskNotFound(ChiffonError):
    error_code = 2001


class NotCancellable(ChiffonError):
    error_code = 2002


class Unauthorized(ChiffonError):
    error_code = 4010


class DependencyUnavailable(ChiffonError):
    """The store or the bus cannot be reached; nothing was half-stored."""

    error_code = 5030
