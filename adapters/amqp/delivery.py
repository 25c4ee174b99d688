"""Driven adapter: settling deliveries safely and running consumer work off the channel's tasks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, Literal

import aiormq
from aiormq.abc import AbstractChannel, DeliveredMessage

log = logging.getLogger(__name__)

Settle = Literal["ack", "requeue", "dead"]


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
