"""Driven adapter: publishing with publisher confirms, many in flight, errors as BusUnavailable."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

import aiormq
import attrs
from aiormq.abc import AbstractChannel
from pamqp.commands import Basic

from adapters.amqp.connection import AmqpConnection
from ports.bus import BusUnavailable

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_S = 10.0
PERSISTENT = 2

OnChannel = Callable[[AbstractChannel], Awaitable[None]]


@attrs.frozen
class Outgoing:
    exchange: str
    routing_key: str
    body: bytes
    priority: int | None = None
    mandatory: bool = True
    message_type: str | None = None
    headers: dict[str, str] | None = None


class ConfirmingPublisher:
    """A lazily opened confirm channel per connection. `on_channel` runs on each new one
    (declare what the publishes need) before it is used."""

    def __init__(
        self,
        connection: AmqpConnection,
        on_channel: OnChannel,
        timeout_s: float = PUBLISH_TIMEOUT_S,
    ) -> None:
        self._connection = connection
        self._on_channel = on_channel
        self._timeout_s = timeout_s
        self._channel: AbstractChannel | None = None
        self._lock = asyncio.Lock()

    async def channel(self) -> AbstractChannel:
        """The live confirm channel (opened and prepared if needed); BusUnavailable if none."""
        async with self._lock:
            ch = self._channel
            if ch is None or ch.is_closed or ch.connection is not self._connection.current():
                ch = await self._connection.channel(publisher_confirms=True)
                try:
                    await self._on_channel(ch)
                except (aiormq.AMQPError, ConnectionError, RuntimeError) as exc:
                    raise BusUnavailable(f"cannot prepare the channel: {exc!r}") from exc
                self._channel = ch
            return ch

    async def publish(
        self, messages: Sequence[Outgoing], ch: AbstractChannel | None = None
    ) -> None:
        """Send all, then wait for every confirm; raises BusUnavailable if any publish was
        nacked, returned as unroutable, timed out or lost with the connection."""
        outcomes = await self.publish_each(messages, ch)
        failures = [o for o in outcomes if o is not None]
        if failures:
            raise BusUnavailable(
                f"{len(failures)} of {len(messages)} publishes not confirmed: {failures[0]!r}"
            ) from failures[0]

    async def publish_one(self, message: Outgoing) -> None:
        """`publish` of one message, sent from the caller's own task (no task and gather per
        message: an agent publishes two per task). Only for a publisher nobody uses `send`
        on: a message sent this way could be written before messages `send` just queued."""
        ch = await self.channel()
        try:
            await self._send(ch, message)
        except BusUnavailable:
            raise
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is None or task.cancelling():
                raise  # our caller is being cancelled
            # A confirm cancelled under us (its channel closed), as `publish` reports it.
            raise BusUnavailable(f"1 of 1 publishes not confirmed: {exc!r}") from exc
        except Exception as exc:
            raise BusUnavailable(f"1 of 1 publishes not confirmed: {exc!r}") from exc

    async def publish_each(
        self, messages: Sequence[Outgoing], ch: AbstractChannel | None = None
    ) -> list[BaseException | None]:
        """Send all with every confirm in flight; per message, None (confirmed) or why not."""
        if not messages:
            return []
        sends = await self.send(messages, ch)
        outcomes = await asyncio.gather(*sends, return_exceptions=True)
        return [o if isinstance(o, BaseException) else None for o in outcomes]

    async def send(
        self, messages: Sequence[Outgoing], ch: AbstractChannel | None = None
    ) -> list[asyncio.Task[None]]:
        """Start sending, in order, and return one task per message that ends when its confirm
        came (or raises why not). Whatever any caller sends on this publisher after `send`
        returned is written to the broker after these messages, hence routed after them:
        each task reaches the channel's FIFO write lock before any task created later."""
        ch = ch or await self.channel()
        return [asyncio.create_task(self._send(ch, message)) for message in messages]

    async def _send(self, ch: AbstractChannel, message: Outgoing) -> None:
        props = Basic.Properties(
            delivery_mode=PERSISTENT,
            priority=message.priority,
            content_type="application/json",
            message_type=message.message_type,
            headers=dict(message.headers) if message.headers else None,
        )
        confirm = await ch.basic_publish(
            message.body,
            exchange=message.exchange,
            routing_key=message.routing_key,
            properties=props,
            mandatory=message.mandatory,
            timeout=self._timeout_s,
        )
        if not isinstance(confirm, Basic.Ack):
            raise BusUnavailable(f"broker did not ack the publish: {confirm!r}")

    async def close(self) -> None:
        ch, self._channel = self._channel, None
        if ch is not None:
            await self._connection.release(ch)
