"""`chiffon ...`: parse the command line, run the verb, and turn every operator mistake into one
line on stderr with a non-zero exit code (never a traceback).

Client verbs (dispatch, status, tasks, ...) need only the server's URL and token: they load the
HTTP client and nothing of the server, so they start fast (tests/unit/test_cli_imports.py).
The server verbs load the composition root, which loads every adapter."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from adapters.cli import parser
from adapters.cli.client import arguments

if TYPE_CHECKING:
    import asyncio


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (it takes a third of the CPU off every
    socket read and write; see docs/performance.md), else asyncio's own."""
    try:
        import uvloop
    except ImportError:  # a platform without it (Windows): the default loop works the same
        return None
    return uvloop.new_event_loop


def tune_collector() -> None:
    """For the long-running verbs: everything loaded so far (modules, classes) is left out of
    every collection from now on, and the youngest generation is collected after 20,000 new
    objects instead of 700: a request makes a few dozen, nearly all freed at once, so the
    default collected every few dozen requests and, as a server's heap grew, now and then
    scanned all of it (memory dispatch: 8-40 us of collection per request, 2-5 after)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 10, 10)


def main(argv: Sequence[str] | None = None) -> int:
    command = parser.parse(sys.argv[1:] if argv is None else argv, arguments.add_verbs)
    if command.verb in arguments.VERBS:  # they need only CHIFFON_URL and CHIFFON_API_TOKEN
        from adapters.cli.client import cli as client

        return client.run(command.verb, command.overrides, os.environ)
    if command.verb == "simulate":  # a world of its own: no server settings
        import composition_root

        return composition_root.simulate(command.overrides)
    return _run_server_verb(command.verb, command.overrides)


def _run_server_verb(verb: str, overrides: dict[str, Any]) -> int:
    import asyncio

    from adapters.cli import logs
    from adapters.cli.serve import run_agent, run_migrate, run_server
    from adapters.cli.settings import SettingError, Settings, unknown_names
    from adapters.cli.workers import run_workers, serve_worker
    from ports.startup import StartupError

    listen_fd = overrides.pop("listen_fd", None)  # set for a worker by its parent
    ready_fd = overrides.pop("ready_fd", None)
    worker = overrides.pop("worker_index", None)
    for warning in unknown_names(os.environ):
        print(f"chiffon: warning: {warning}", file=sys.stderr)
    try:
        settings = Settings.from_env(os.environ, **overrides)
    except SettingError as exc:
        print(f"chiffon: bad setting: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_format, worker=worker)
    tune_collector()
    if verb == "serve" and listen_fd is not None and ready_fd is not None:
        run = serve_worker(settings, listen_fd, ready_fd)
    elif verb == "serve" and settings.workers > 1:
        run = run_workers(settings, overrides)
    else:
        run = {"serve": run_server, "migrate": run_migrate, "agent": run_agent}[verb](settings)
    try:
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            runner.run(run)
    except StartupError as exc:
        print(f"chiffon: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0
