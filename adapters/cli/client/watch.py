"""Following tasks over /api/v1/ws: subscribe, yield every new state, resume after a drop."""

from __future__ import annotations

import asyncio
import json
import random
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Final
from uuid import UUID

import aiohttp

from adapters.cli.client.errors import ApiError, ServerUnreachable, TransportFailed
from adapters.cli.client.task_json import TaskJson
from chiffon.model import TaskStatus

Connect = Callable[[], AbstractAsyncContextManager[aiohttp.ClientWebSocketResponse]]
Explain = Callable[[aiohttp.WSServerHandshakeError], Awaitable[Exception]]

_RANK: Final = {TaskStatus.PENDING.value: 0, TaskStatus.RUNNING.value: 1}


def subscription(task_id: UUID | str | None, trace_id: UUID | str | None) -> dict[str, str]:
    """The subscribe message's key: one task, one trace, or (neither) every task."""
    if task_id is not None and trace_id is not None:
        raise ValueError("watch one task or one trace, not both")
    if task_id is not None:
        return {"task_id": str(task_id)}
    if trace_id is not None:
        return {"trace_id": str(trace_id)}
    return {"topic": "tasks"}


class Seen:
    """The newest state yielded per task, so a resumed stream never repeats or goes back.

    Copies are ordered by `revision` when both have one, else like the server orders them:
    by updated_at, then attempt, status (pending < running < final) and progress."""

    def __init__(self, capacity: int = 100_000) -> None:
        # Bounded for a long `watch` of every task: the least recently changed are forgotten
        # first (a snapshot holds only active and recent tasks, so they do not come back).
        self._last: OrderedDict[str, tuple[int | None, tuple[Any, ...]]] = OrderedDict()
        self._capacity = capacity

    def fresh(self, task: TaskJson) -> bool:
        """Whether `task` is newer than what was yielded for it; if so it is now the newest."""
        key = str(task.get("task_id"))
        revision = task.get("revision") if isinstance(task.get("revision"), int) else None
        version = _version(task)
        old = self._last.get(key)
        if old is not None:
            old_revision, old_version = old
            if revision is not None and old_revision is not None:
                if revision <= old_revision:
                    return False
            elif version <= old_version:
                return False
        self._last[key] = (revision, version)
        self._last.move_to_end(key)
        if len(self._last) > self._capacity:
            self._last.popitem(last=False)
        return True


def _replay_order(task: TaskJson) -> tuple[float, float]:
    return (_timestamp(task.get("updated_at")), _timestamp(task.get("created_at")))


def _timestamp(value: Any) -> float:
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return 0.0


def _version(task: TaskJson) -> tuple[Any, ...]:
    updated = _timestamp(task.get("updated_at"))
    progress = task.get("progress_percent")
    return (
        updated,
        task.get("attempt") or 0,
        _RANK.get(str(task.get("status")), 2),
        progress if isinstance(progress, int) else -1,
    )


class Backoff:
    """Capped exponential delays with jitter: 0.1 s, 0.2 s, ... up to `cap_s`."""

    def __init__(self, first_s: float = 0.1, cap_s: float = 5.0) -> None:
        self._first, self._cap = first_s, cap_s
        self._next = first_s

    def reset(self) -> None:
        self._next = self._first

    def delay(self) -> float:
        delay, self._next = self._next, min(self._next * 2, self._cap)
        return delay * random.uniform(0.8, 1.2)


class _Retry(Exception):
    """The server could not answer the subscribe for now (a 5xxx error frame)."""


async def follow(
    connect: Connect, subscribe: dict[str, str], url: str, explain: Explain
) -> AsyncGenerator[TaskJson, None]:
    """Every state of the subscribed tasks: the snapshot's, then each `task.updated`.

    A refused first connection raises ServerUnreachable; once connected, a dropped connection
    is retried forever with backoff and the subscription resumes from a fresh snapshot, from
    which only states newer than those already yielded are yielded. An API error (a refused
    upgrade, an unknown task) raises ApiError."""
    seen, backoff, connected = Seen(), Backoff(), False
    while True:
        try:
            async with connect() as ws:
                connected = True
                await ws.send_str(json.dumps({"action": "subscribe", **subscribe}))
                async for task in _states(ws, backoff):
                    if seen.fresh(task):
                        yield task
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status < 500:
                raise await explain(exc) from exc
        except aiohttp.ClientConnectionError as exc:
            if not connected:
                raise ServerUnreachable(url, str(exc)) from exc
        except aiohttp.ClientError as exc:  # an answer we cannot read: said, not retried
            raise TransportFailed(str(exc) or type(exc).__name__) from exc
        except (_Retry, TimeoutError):
            pass
        await asyncio.sleep(backoff.delay())


async def _states(ws: aiohttp.ClientWebSocketResponse, backoff: Backoff) -> AsyncIterator[TaskJson]:
    """The task states of one connection's frames, until it closes."""
    async for msg in ws:
        if msg.type is not aiohttp.WSMsgType.TEXT:
            return  # an error: the connection is gone
        frame = json.loads(msg.data)
        if "error_code" in frame:
            error = ApiError.from_frame(frame)
            if error.status >= 500:
                raise _Retry(error.error_message)
            raise error
        if frame.get("event") == "snapshot":
            backoff.reset()
            # The server lists a snapshot newest first; a replay reads in time order, like
            # the changes that follow it.
            for task in sorted(frame.get("data", []), key=_replay_order):
                yield task
        elif frame.get("event") == "task.updated":
            yield frame["data"]
