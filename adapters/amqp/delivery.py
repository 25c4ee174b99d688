"""Driven adapter: settling deliveries safely and running consumer work off the channel's tasks."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable
from typing import Any, Literal

import aiormq
from aiormq.abc import AbstractChannel, DeliveredMessage

log = logging.getLogger(__name__)

Settle = Literal["ack", "requeue", "dead"]
SINGLES_AFTER = 16
SINGLES_AFTER_S = 0.05


async def settle(message: DeliveredMessage, how: Settle) -> bool:
    """Ack, requeue or dead-letter (reject without requeue) one delivery on its own channel.
    A dead channel is logged and ignored (the broker redelivers what it held); returns
    whether the broker was told."""
    ch: AbstractChannel = message.channel
    tag = message.delivery_tag
    assert tag is not None
    try:
        if how == "ack":
            await ch.basic_ack(tag)
        elif how == "requeue":
            await ch.basic_nack(tag, requeue=True)
        else:
            await ch.basic_reject(tag, requeue=False)
    except (aiormq.AMQPError, ConnectionError, RuntimeError) as exc:
        # RuntimeError covers aiormq's ChannelInvalidStateError (the channel is closed).
        log.warning(
            "could not %s delivery %s (channel gone: %r); the broker redelivers it", how, tag, exc
        )
        return False
    return True


class Spawner:
    """Runs consumer work in our own tasks, so a channel that closes does not cancel a
    handler halfway; tasks start in creation (that is, delivery) order."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, work: Awaitable[object]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("consumer task failed", exc_info=task.exception())

    async def wait(self, grace_s: float) -> None:
        """Let running work finish within `grace_s`, then cancel what is left."""
        tasks = list(self._tasks)
        if tasks:
            await asyncio.wait(tasks, timeout=grace_s)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class BatchedSettler:
    """Settles one channel's deliveries in as few frames as possible, once per loop
    iteration: one `basic.ack` with `multiple` for the run of acked deliveries at the head
    (tags are consecutive per channel, so a gap is a delivery not seen yet and ends the run),
    and requeues and rejections one by one, before the acks. Deliveries done behind one still
    being handled wait for the run to reach them, but at most `SINGLES_AFTER_S` or until
    `SINGLES_AFTER` of them wait: then each is acked alone, so the prefetch window keeps
    moving past a slow handler. One task writes every frame in that order, so a `multiple`
    ack never covers a delivery settled otherwise."""

    def __init__(self, ch: AbstractChannel) -> None:
        self._ch = ch
        self._open: dict[int, _State] = {}
        self._acked_through = 0  # every tag up to this one is settled
        self._scheduled = False
        self._late = False
        self._frames: deque[tuple[Settle, int, bool]] = deque()
        self._writer: asyncio.Task[None] | None = None

    def received(self, message: DeliveredMessage) -> None:
        assert message.delivery_tag is not None
        self._open[message.delivery_tag] = "handling"

    def settle(self, message: DeliveredMessage, how: Settle) -> None:
        tag = message.delivery_tag
        if tag is None or self._open.get(tag) != "handling":
            return  # settled already: a second ack of one tag would close the channel
        self._open[tag] = how
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush_late(self) -> None:
        self._late = False
        self._flush(forced=True)

    def _flush(self, forced: bool = False) -> None:
        self._scheduled = False
        frames: list[tuple[Settle, int, bool]] = []
        for tag, state in self._open.items():
            if state == "requeue" or state == "dead":
                frames.append((state, tag, False))
                self._open[tag] = "sent"
        run_end, last_ack = self._acked_through, 0
        while self._open.get(run_end + 1) in ("ack", "sent"):
            run_end += 1
            if self._open[run_end] == "ack":
                last_ack = run_end
        if last_ack:
            frames.append(("ack", last_ack, True))
        for tag in range(self._acked_through + 1, run_end + 1):
            del self._open[tag]
        self._acked_through = run_end
        waiting = [tag for tag, state in self._open.items() if state == "ack"]
        if waiting and (forced or len(waiting) >= SINGLES_AFTER):
            for tag in waiting:  # done behind one still being handled: keep the window moving
                frames.append(("ack", tag, False))
                self._open[tag] = "sent"
        elif waiting and not self._late:
            self._late = True
            asyncio.get_running_loop().call_later(SINGLES_AFTER_S, self._flush_late)
        if frames:
            self._frames.extend(frames)
            if self._writer is None or self._writer.done():
                self._writer = asyncio.ensure_future(self._write())

    async def _write(self) -> None:
        while self._frames:
            how, tag, multiple = self._frames.popleft()
            try:
                if how == "ack":
                    await self._ch.basic_ack(tag, multiple=multiple)
                elif how == "requeue":
                    await self._ch.basic_nack(tag, requeue=True)
                else:
                    await self._ch.basic_reject(tag, requeue=False)
            except (aiormq.AMQPError, ConnectionError, RuntimeError) as exc:
                log.warning(
                    "could not settle %d deliveries (channel gone: %r); the broker redelivers them",
                    len(self._frames) + 1,
                    exc,
                )
                self._frames.clear()
                return


_State = Literal["handling", "ack", "requeue", "dead", "sent"]
