"""Domain errors, each with a stable numeric error_code that the API returns (errors only the
HTTP edge raises live in adapters/http/edge_errors.py)."""

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


class NotRerunnable(ChiffonError):
    """A rerun of a task that has not finished (it would run the same work twice at once)."""

    error_code = 2020


class NoLiveAgent(ChiffonError):
    """A dispatch with on_no_agent "reject" while no live agent of its type exists."""

    error_code = 3001


class DependencyUnavailable(ChiffonError):
    """The store or the bus cannot be reached; nothing was half-stored."""

    error_code = 5030


class ScheduleNotFound(ChiffonError):
    error_code = 2030


class ScheduleBusy(ChiffonError):
    """The schedule kept changing under an update (another writer); try again."""

    error_code = 2031


class TooManySchedules(ChiffonError):
    """The store holds MAX_SCHEDULES already: what one list answers and one snapshot pushes
    is whole and bounded (docs/schedules.md). Delete one first."""

    error_code = 2032
