"""Connection handling: bounded acquire, broken connections discarded, outages translated."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, ParamSpec, TypeVar

import asyncpg

from chiffon.errors import DependencyUnavailable

P = ParamSpec("P")
R = TypeVar("R")

# Failures that say "the database cannot be reached or dropped us", not "the query was wrong".
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable (ConnectionResetError etc. are subclasses)
    TimeoutError,  # connect or pool acquire timed out
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,  # connection closed, pool closing
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,  # pg_terminate_backend, server shutting down
    asyncpg.CrashShutdownError,
    # A backend killed while the connection sat idle leaves asyncpg's protocol in a state where
    # the next query fails with this (MagicStack/asyncpg#1069); the connection is unusable.
    asyncpg.InternalClientError,
)
# InterfaceError subclasses that are our mistakes (bad argument, bad config), not an outage.
CLIENT_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,  # asyncpg's client-side DataError and ClientConfigurationError
    asyncpg.UnsupportedClientFeatureError,
    asyncpg.UnsupportedServerFeatureError,
)


@contextmanager
def database_errors() -> Iterator[None]:
    """Re-raise a connection-level failure as DependencyUnavailable; leave the rest alone."""
    try:
        yield
    except CONNECTION_ERRORS as exc:
        if isinstance(exc, CLIENT_ERRORS):
            raise
        detail = str(exc) or type(exc).__name__
        raise DependencyUnavailable(f"database unavailable: {detail}") from exc


def translates_errors(
    fn: Callable[P, Coroutine[Any, Any, R]],
) -> Callable[P, Coroutine[Any, Any, R]]:
    """Decorator form of `database_errors` for the async methods of a store."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with database_errors():
            return await fn(*args, **kwargs)

    return wrapper


@asynccontextmanager
async def connection(pool: asyncpg.Pool, wait_s: float) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection, waited for at most `wait_s` seconds (a dead database must not
    hang a request forever), in the order asked for. One that failed at the connection level
    is closed, not returned to the pool in a corrupted state."""
    # FairPool queues callers in order (see pool.py); any other pool gets a gate of its own.
    gate: asyncio.Semaphore = getattr(pool, "fair_gate", None) or asyncio.Semaphore()
    started = time.monotonic()
    if gate.locked():  # every connection taken: wait in line, at most wait_s
        async with asyncio.timeout(wait_s):
            await gate.acquire()
    else:
        await gate.acquire()  # returns at once: no timer to arm and cancel
    try:
        left = max(0.001, wait_s - (time.monotonic() - started))
        async with pool.acquire(timeout=left) as conn:
            try:
                yield conn
            except CONNECTION_ERRORS as exc:
                if not isinstance(exc, CLIENT_ERRORS):
                    conn.terminate()
                raise
    finally:
        gate.release()


@asynccontextmanager
async def transaction(pool: asyncpg.Pool, wait_s: float) -> AsyncIterator[asyncpg.Connection]:
    """`connection` inside one transaction (committed on success, rolled back on error)."""
    async with connection(pool, wait_s) as conn, conn.transaction():
        yield conn
