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


def main(argv: Sequence[str] | None = None) -> int:
    command = cli.parse(sys.argv[1:] if argv is None else argv, client_cli.add_verbs)
    if command.verb in client_cli.VERBS:  # they need only CHIFFON_URL and CHIFFON_API_TOKEN
        return client_cli.run(command.verb, command.overrides, os.environ)
    for warning in unknown_names(os.environ):
        print(f"chiffon: warning: {warning}", file=sys.stderr)
    try:
        settings = Settings.from_env(os.environ, **command.overrides)
    except SettingError as exc:
        print(f"chiffon: bad setting: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_format)
    try:
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            runner.run(RUNS[command.verb](settings))
    except StartupError as exc:
        print(f"chiffon: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0
