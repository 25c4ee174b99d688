"""The handler API: what a user writes to teach an agent a work type."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any
from uuid import UUID

import attrs

from chiffon.model import JsonObject

ProgressSink = Callable[[int | None, str | None], Awaitable[None]]


class HandlerError(Exception):
    """Raise from a handler to fail the attempt with this message, exit code and output;
    `retryable=False` says another attempt would not help (the retry policy is not applied)."""

    def __init__(
        self,
        message: str,
        exit_code: int = 1,
        output: str | None = None,
        retryable: bool = True,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.output = output
        self.retryable = retryable


@attrs.frozen
class HandlerOutcome:
    """Return this from a handler to set output and exit code as well as the result."""

    result: Any = None
    output: str | None = None
    exit_code: int = 0
    retryable: bool = True  # for a failure: whether the retry policy may try again


class HandlerContext:
    """What a running handler sees of its task."""

    def __init__(
        self,
        task_id: UUID,
        trace_id: UUID,
        work_type: str,
        attempt: int,
        parameters: JsonObject,
        progress: ProgressSink,
        cancel_requested: asyncio.Event,
    ) -> None:
        self.task_id = task_id
        self.trace_id = trace_id
        self.work_type = work_type
        self.attempt = attempt
        self.parameters = parameters
        self._progress = progress
        self._cancel_requested = cancel_requested

    async def progress(self, percent: int | None = None, message: str | None = None) -> None:
        """Report progress (0-100 and/or a line of text); it reaches status and live push."""
        await self._progress(percent, message)

    @property
    def cancel_requested(self) -> bool:
        """True once a cancel arrived. The handler is also cancelled (CancelledError) at its
        next await; long CPU-bound work should check this flag between steps."""
        return self._cancel_requested.is_set()


Handler = Callable[[HandlerContext], Awaitable[Any]]


class HandlerRegistry(Mapping[str, Handler]):
    """work_type -> handler. `registry.register("resize")` is a decorator."""

    def __init__(self, handlers: Mapping[str, Handler] | None = None) -> None:
        self._handlers: dict[str, Handler] = dict(handlers or {})

    def register(self, work_type: str) -> Callable[[Handler], Handler]:
        def decorate(handler: Handler) -> Handler:
            self._handlers[work_type] = handler
            return handler

        return decorate

    def add(self, work_type: str, handler: Handler) -> None:
        self._handlers[work_type] = handler

    def merge(self, other: Mapping[str, Handler]) -> None:
        self._handlers.update(other)

    def __getitem__(self, work_type: str) -> Handler:
        return self._handlers[work_type]

    def __iter__(self) -> Iterator[str]:
        return iter(self._handlers)

    def __len__(self) -> int:
        return len(self._handlers)
