"""One batcher for the writes that share a statement (the group commit of dispatches, the
batch of agents' reports): callers queue items while a write is in flight and the next write
takes them all, so the store sees one round trip per batch instead of one per caller."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")
Write = Callable[[list[Item]], Awaitable[Sequence[Result]]]


class Batcher(Generic[Item, Result]):
    """While one write is in flight, items queue; the next flush takes up to `max_batch` of
    them and writes them with one call of `write` per group (items of one `group` key, in
    the order they came; one group by default). `write` answers each item of its list, in
    order. A lone item is written at once, so latency does not grow at low load, and each
    caller is answered only after its own write.

    A write that raises fails every item of it when the error is one of `fails_all` (an
    outage: each would fail the same way); otherwise each item is written again on its own,
    so one bad item fails alone. A caller that went away (its future cancelled) is skipped."""

    def __init__(
        self,
        write: Write[Item, Result],
        *,
        max_batch: int = 500,
        group: Callable[[Item], Hashable] | None = None,
        fails_all: tuple[type[BaseException], ...] = (),
    ) -> None:
        self._write = write
        self._max_batch = max_batch
        self._group = group
        self._fails_all = fails_all
        self._queue: list[tuple[Item, asyncio.Future[Result]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        """`item` written (with whatever else is queued meanwhile); its own answer."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
            if self._group is None:
                await self._write_answering(batch)
                continue
            groups: dict[Hashable, list[tuple[Item, asyncio.Future[Result]]]] = {}
            for entry in batch:
                groups.setdefault(self._group(entry[0]), []).append(entry)
            for group in groups.values():
                await self._write_answering(group)

    async def _write_answering(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = await self._write([item for item, _ in batch])
        except self._fails_all as exc:
            _fail(batch, exc)
        except Exception as exc:
            if len(batch) == 1:
                _fail(batch, exc)
            else:  # one bad item must not fail the others: each on its own
                for entry in batch:
                    await self._write_answering([entry])
        else:
            if len(results) != len(batch):  # a broken `write`: no caller may wait forever
                _fail(batch, RuntimeError(f"{len(results)} answers for {len(batch)} items"))
                return
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)


def _fail(batch: Sequence[tuple[object, asyncio.Future[Result]]], exc: BaseException) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(exc)
