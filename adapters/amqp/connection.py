"""Driven adapter: one supervised RabbitMQ connection that reconnects and re-runs its setup."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import weakref
from collections.abc import Awaitable, Callable

import aiormq
from aiormq.abc import AbstractChannel, AbstractConnection

from ports.bus import BusUnavailable

log = logging.getLogger(__name__)

OnConnect = Callable[[AbstractConnection], Awaitable[None]]
SETUP_TIMEOUT_S = 30.0


class BrokerRefused(BusUnavailable):
    """RabbitMQ answered but refused us (credentials, vhost, permissions): waiting will not
    help, so the first connection attempt gives up with this instead of retrying forever."""


def _refusal(exc: BaseException) -> str | None:
    """Why the broker refused the connection, or None when it may just be down."""
    if isinstance(exc, aiormq.exceptions.ProbableAuthenticationError):
        return "RabbitMQ refused the user name or password (ACCESS_REFUSED)"
    if isinstance(exc, aiormq.exceptions.InvalidFrameError) and "Connection.Close" in str(exc):
        return (
            "RabbitMQ closed the connection while opening it "
            "(does the vhost exist, and may the user use it?)"
        )
    return None


class AmqpConnection:
    """Connects with capped, jittered exponential backoff; after every (re)connect it runs
    the `on_connect` callbacks (declare topology, start consumers) in order, and only then
    reports itself connected. aiormq has no reconnection of its own: this loop is it."""

    def __init__(
        self,
        url: str,
        name: str,
        min_backoff_s: float = 0.1,
        max_backoff_s: float = 5.0,
    ) -> None:
        self.url = url
        self.name = name
        self.on_connect: list[OnConnect] = []
        self.connects = 0
        self._min = min_backoff_s
        self._max = max_backoff_s
        self._conn: AbstractConnection | None = None
        self._ready = asyncio.Event()
        self._setup = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._released: weakref.WeakSet[AbstractChannel] = weakref.WeakSet()
        self._restarts: set[asyncio.Task[None]] = set()
        self._refused: BrokerRefused | None = None
        self._gave_up = asyncio.Event()

    async def start(self, timeout_s: float | None = None) -> None:
        """Start the supervisor; with `timeout_s`, wait that long for the first connection
        (raises BusUnavailable if it does not come; the supervisor keeps trying)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"amqp-{self.name}")
        if timeout_s is not None:
            await self.wait_connected(timeout_s)

    async def wait_connected(self, timeout_s: float) -> None:
        """Return once connected; raises BrokerRefused if the broker refused the first
        attempt, BusUnavailable if nothing came within `timeout_s`."""
        waits = [asyncio.ensure_future(e.wait()) for e in (self._ready, self._gave_up)]
        try:
            await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
        if self._refused is not None:
            raise self._refused
        if not self._ready.is_set():
            raise BusUnavailable(f"no connection to RabbitMQ within {timeout_s}s")

    def is_connected(self) -> bool:
        return self._ready.is_set() and self._conn is not None and not self._conn.is_closed

    def current(self) -> AbstractConnection:
        """The live connection; raises BusUnavailable when there is none."""
        if self._conn is None or self._conn.is_closed or not self._ready.is_set():
            raise BusUnavailable("not connected to RabbitMQ")
        return self._conn

    async def channel(self, publisher_confirms: bool = True) -> AbstractChannel:
        """A new channel on the live connection; raises BusUnavailable when there is none."""
        conn = self.current()
        try:
            return await conn.channel(publisher_confirms=publisher_confirms)
        except (aiormq.AMQPError, ConnectionError, RuntimeError) as exc:
            raise BusUnavailable(f"cannot open a channel: {exc!r}") from exc

    async def add_on_connect(self, callback: OnConnect) -> None:
        """Register `callback` for every future connect, and run it now if connected. If the
        connection drops while it runs, the next connect runs it again."""
        async with self._setup:
            self.on_connect.append(callback)
            conn = self._conn
            if conn is None or not self._ready.is_set():
                return
            try:
                await callback(conn)
            except Exception:
                if not conn.is_closed:
                    self.on_connect.remove(callback)  # refused by a live broker: not registered
                    raise
                log.warning(
                    "connection %s lost during setup; it runs again on reconnect", self.name
                )

    def remove_on_connect(self, callback: OnConnect) -> None:
        if callback in self.on_connect:
            self.on_connect.remove(callback)

    def supervise(self, ch: AbstractChannel) -> None:
        """If the broker closes this consumer channel, or cancels a consumer on it (its queue
        was deleted), while the connection lives: reconnect, which restores everything."""
        ch.closing.add_done_callback(lambda _: self._lost(ch, "consumer channel closed"))
        ch.on_consumer_cancel_callbacks.add(lambda _: self._lost(ch, "consumer cancelled"))

    async def release(self, ch: AbstractChannel) -> None:
        """Close a channel on purpose (no reconnect); errors of a dead channel are ignored."""
        self._released.add(ch)
        if not ch.is_closed:
            try:
                await ch.close()
            except Exception as exc:
                log.debug("closing a channel: %r", exc)

    def _lost(self, ch: AbstractChannel, why: str) -> None:
        if ch in self._released or ch.connection is not self._conn:
            return
        task = asyncio.get_running_loop().create_task(self._restart(ch.connection, why))
        self._restarts.add(task)
        task.add_done_callback(self._restarts.discard)

    async def _restart(self, conn: AbstractConnection, why: str) -> None:
        await asyncio.sleep(self._min)  # a connection that is closing anyway finishes first
        if conn is self._conn and not conn.is_closed:
            log.warning("RabbitMQ %s: %s; reconnecting to restore it", self.name, why)
            await conn.close()

    async def close(self) -> None:
        """Stop reconnecting and close the connection (unacked deliveries are requeued)."""
        tasks = [*self._restarts, *([self._task] if self._task else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None
        self._ready.clear()
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    async def _run(self) -> None:
        delay = self._min
        while True:
            try:
                conn = await self._connect_and_setup()
            except Exception as exc:
                why = _refusal(exc)
                if why is not None and self.connects == 0:  # never worked: a setting is wrong
                    self._refused = BrokerRefused(why)
                    self._gave_up.set()
                    return
                log.warning(
                    "RabbitMQ %s not connected (%s); retry in %.2fs",
                    self.name,
                    why or f"{type(exc).__name__}: {exc}"[:200],
                    delay,
                )
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, self._max)
                continue
            delay = self._min
            # asyncio.wait: however the connection ended (error, close, cancelled future), this
            # task goes on; only a cancel of this task itself stops the loop.
            await asyncio.wait([conn.closing])
            self._ready.clear()
            log.warning("RabbitMQ connection %s lost; reconnecting", self.name)
            await asyncio.sleep(self._min * random.uniform(0.5, 1.0))

    async def _connect_and_setup(self) -> AbstractConnection:
        async with asyncio.timeout(SETUP_TIMEOUT_S):
            return await self._setup_connection()

    async def _setup_connection(self) -> AbstractConnection:
        conn: AbstractConnection = await aiormq.connect(
            self.url, client_properties={"connection_name": self.name}
        )
        try:
            async with self._setup:
                self._conn = conn
                index = 0
                while index < len(self.on_connect):  # callbacks added meanwhile run too
                    await self.on_connect[index](conn)
                    index += 1
                self.connects += 1
                self._ready.set()
        except BaseException:
            with contextlib.suppress(Exception):
                await conn.close()
            raise
        log.info("RabbitMQ connection %s ready (connect #%d)", self.name, self.connects)
        return conn
