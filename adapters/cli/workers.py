"""`chiffon serve --workers N`: N processes serving one port, each a full replica.

The parent binds the port (so a port in use is said once, up front, and port 0 resolves to one
port for all), applies migrations once, then starts `chiffon serve` N times, handing each its
own listening socket on that port with SO_REUSEPORT: the kernel spreads new connections over
the workers. The workers are replicas like any others (PostgreSQL and RabbitMQ hold the state;
docs/operations.md). A worker that dies is started again; one that exits before it served
stops them all (its log lines say why). SIGINT/SIGTERM stop every worker, each as `serve` stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Mapping
from typing import Any, Final

import attrs

import composition_root
from adapters.cli.listen import bind
from adapters.cli.serve import refuse_unsafe_exposure, run_server
from adapters.cli.settings import Settings, env_name
from ports.startup import StartupError

log = logging.getLogger("chiffon")

RESTART_DELAY_S: Final = 1.0
STOP_MARGIN_S: Final = 15.0  # beyond the shutdown grace, before a worker is killed


@attrs.define
class Worker:
    index: int
    process: asyncio.subprocess.Process
    ready_pipe: int  # the read end: the worker writes one byte once it serves

    def was_ready(self) -> bool:
        try:
            return os.read(self.ready_pipe, 1) == b"1"
        except BlockingIOError:  # nothing written, and the worker still holds its end
            return False

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.ready_pipe)


async def serve_worker(settings: Settings, listen_fd: int, ready_fd: int) -> None:
    """One worker: serve on the socket our parent bound, and tell it once serving."""
    ready = asyncio.Event()

    async def tell_parent() -> None:
        await ready.wait()
        os.write(ready_fd, b"1")
        os.close(ready_fd)

    told = asyncio.ensure_future(tell_parent())
    try:
        await run_server(settings, ready, socket.socket(fileno=listen_fd))
    finally:
        told.cancel()


async def run_workers(settings: Settings, overrides: Mapping[str, Any]) -> None:
    """Serve with `settings.workers` processes until SIGINT/SIGTERM; StartupError when the
    port cannot be bound or a worker cannot start."""
    refuse_unsafe_exposure(settings)
    if not hasattr(socket, "SO_REUSEPORT"):
        raise StartupError(
            "--workers needs SO_REUSEPORT, which this platform lacks; run one chiffon serve "
            "per port instead (they are replicas of each other)"
        )
    if settings.auto_migrate:
        applied = await composition_root.migrate(settings)
        if applied:
            log.info("applied migrations: %s", ", ".join(applied))
    first = bind(settings.host, settings.port, shared=True)
    port = first.getsockname()[1]
    env = _worker_env(overrides, port)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    workers: dict[int, Worker] = {}
    try:
        for index in range(1, settings.workers + 1):
            sock = first if index == 1 else bind(settings.host, port, shared=True)
            workers[index] = await _start(index, sock, env)
        log.info(
            "%d workers serving on http://%s:%s; Ctrl-C stops them",
            settings.workers,
            settings.host,
            port,
        )
        await _supervise(workers, stop, settings, env, port)
    finally:
        await _stop_all(list(workers.values()), settings.shutdown_grace_s + STOP_MARGIN_S)
        for worker in workers.values():
            worker.close()


async def _supervise(
    workers: dict[int, Worker],
    stop: asyncio.Event,
    settings: Settings,
    env: dict[str, str],
    port: int,
) -> None:
    stopped = asyncio.ensure_future(stop.wait())
    try:
        while not stop.is_set():
            exits = {asyncio.ensure_future(w.process.wait()): w for w in workers.values()}
            done, _ = await asyncio.wait([stopped, *exits], return_when=asyncio.FIRST_COMPLETED)
            for waiter in exits:
                waiter.cancel()
            for waiter in done:
                worker = exits.get(waiter)
                if worker is None:
                    continue
                code = worker.process.returncode
                ready = worker.was_ready()
                worker.close()
                if not ready:
                    raise StartupError(
                        f"worker {worker.index} exited with code {code} before it served "
                        "(its last lines above say why); stopping the others"
                    )
                log.warning(
                    "worker %d (pid %d) exited with code %s; starting it again",
                    worker.index,
                    worker.process.pid,
                    code,
                )
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(RESTART_DELAY_S):
                        await stop.wait()
                if stop.is_set():
                    return
                sock = bind(settings.host, port, shared=True)
                workers[worker.index] = await _start(worker.index, sock, env)
    finally:
        stopped.cancel()
    log.info("stopping %d workers", len(workers))


async def _start(index: int, sock: socket.socket, env: dict[str, str]) -> Worker:
    """`chiffon serve` on this socket (the child gets its own copy; ours is closed)."""
    fd = sock.fileno()
    readable, writable = os.pipe()
    os.set_blocking(readable, False)
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "chiffon",
            "serve",
            "--listen-fd",
            str(fd),
            "--ready-fd",
            str(writable),
            "--worker-index",
            str(index),
            env=env,
            pass_fds=(fd, writable),
            stdin=asyncio.subprocess.DEVNULL,
        )
    except BaseException:
        os.close(readable)
        raise
    finally:
        sock.close()
        os.close(writable)
    return Worker(index, process, readable)


async def _stop_all(workers: list[Worker], timeout_s: float) -> None:
    running = [w for w in workers if w.process.returncode is None]
    for worker in running:
        with contextlib.suppress(ProcessLookupError):
            worker.process.send_signal(signal.SIGTERM)
    if not running:
        return
    waits = [asyncio.ensure_future(w.process.wait()) for w in running]
    _, late = await asyncio.wait(waits, timeout=timeout_s)
    for worker in running:
        if worker.process.returncode is None:
            log.warning("worker %d did not stop in %.0fs: killed", worker.index, timeout_s)
            with contextlib.suppress(ProcessLookupError):
                worker.process.kill()
    if late:
        await asyncio.wait(late)


def _worker_env(overrides: Mapping[str, Any], port: int) -> dict[str, str]:
    """The workers' settings: ours (the environment, then our flags as variables), one
    process each, on the bound port, with migrations already applied."""
    env = dict(os.environ)
    for name, value in overrides.items():
        env[env_name(name)] = _as_env(value)
    env.update(CHIFFON_WORKERS="1", CHIFFON_PORT=str(port), CHIFFON_AUTO_MIGRATE="false")
    return env


def _as_env(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
