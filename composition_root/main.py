"""`chiffon ...`: parse the command line and settings, run the verb, and turn every operator
mistake into one line on stderr with a non-zero exit code (never a traceback)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from adapters import cli
from adapters.http.client import cli as client_cli
from adapters.system import logs
from composition_root.runners import run_agent, run_migrate, run_server
from composition_root.settings import SettingError, Settings, unknown_names
from composition_root.startup import StartupError
from composition_root.workers import run_workers, serve_worker

RUNS: dict[str, Callable[[Settings], Coroutine[Any, Any, None]]] = {
    "serve": run_server,
    "migrate": run_migrate,
    "agent": run_agent,
}


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (it takes a third of the CPU off every
    socket read and write; see docs/performance.md), else asyncio's own."""
    try:
        import uvloop
    except ImportError:  # a platform without it (Windows): the default loop works the same
        return None
    return uvloop.new_event_loop


def _run(
    verb: str,
    settings: Settings,
    overrides: dict[str, Any],
    listen_fd: int | None,
    ready_fd: int | None,
) -> Coroutine[Any, Any, None]:
    if verb == "serve" and listen_fd is not None and ready_fd is not None:
        return serve_worker(settings, listen_fd, ready_fd)
    if verb == "serve" and settings.workers > 1:
        return run_workers(settings, overrides)
    return RUNS[verb](settings)


def main(argv: Sequence[str] | None = None) -> int:
    command = cli.parse(sys.argv[1:] if argv is None else argv, client_cli.add_verbs)
    if command.verb in client_cli.VERBS:  # they need only CHIFFON_URL and CHIFFON_API_TOKEN
        return client_cli.run(command.verb, command.overrides, os.environ)
    if command.verb == "simulate":  # a world of its own: no server settings
        from composition_root.simulation import simulate_command  # on demand

        return simulate_command(command.overrides)
    listen_fd = command.overrides.pop("listen_fd", None)  # set for a worker by its parent
    ready_fd = command.overrides.pop("ready_fd", None)
    worker = command.overrides.pop("worker_index", None)
    for warning in unknown_names(os.environ):
        print(f"chiffon: warning: {warning}", file=sys.stderr)
    try:
        settings = Settings.from_env(os.environ, **command.overrides)
    except SettingError as exc:
        print(f"chiffon: bad setting: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_format, worker=worker)
    try:
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            runner.run(_run(command.verb, settings, command.overrides, listen_fd, ready_fd))
    except StartupError as exc:
        print(f"chiffon: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0
