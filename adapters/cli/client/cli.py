"""Driving adapter: the `chiffon` client verbs (dispatch, status, tasks, agents, cancel, watch).

adapters/cli/main runs them (`run`) once arguments.py has parsed them; they
need only the server's URL and token, never the server's settings."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from adapters.cli.client import checks
from adapters.cli.client.address import DEFAULT_URL
from adapters.cli.client.api import Client
from adapters.cli.client.bulk import cancel_one_or_many
from adapters.cli.client.errors import ApiError, ServerUnreachable, TransportFailed
from adapters.cli.client.schedule_verbs import schedule
from adapters.cli.client.verbs import RUNNERS, Options, Output, UsageError, Verb

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

VERB_RUNNERS: Final[dict[str, Verb]] = {
    **RUNNERS,
    "cancel": cancel_one_or_many,
    "schedule": schedule,
}
EXIT_INTERRUPTED: Final = 130


def run(verb: str, options: Options, env: Mapping[str, str]) -> int:
    """Run one client verb; every failure is one line on stderr and an exit code:
    1 the task did not complete (audit: a violation found), 2 bad usage or 4xx, 3 no server,
    4 5xx, 130 Ctrl-C."""
    url = options.get("url") or env.get("CHIFFON_URL") or DEFAULT_URL
    token = options.get("token") or env.get("CHIFFON_API_TOKEN") or None
    out = Output(json=bool(options.get("json")))
    try:
        url = checks.server_url(url)
        checked = checks.checked(verb, options)
        return asyncio.run(_interruptible(VERB_RUNNERS[verb], url, token, checked, out))
    except Interrupted:
        if out.on_interrupt:
            out.say(out.on_interrupt)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except UsageError as exc:
        out.say(str(exc))
        return 2
    except ApiError as exc:
        code = (
            f"error_code {exc.error_code}" if exc.error_code is not None else f"HTTP {exc.status}"
        )
        out.say(f"{exc.error_message}{checks.details_line(exc.details)} ({code})")
        return 2 if 400 <= exc.status < 500 else 4
    except ServerUnreachable:
        out.say(f"no chiffon at {url} (is `chiffon serve` running?)")
        return 3
    except (TimeoutError, TransportFailed) as exc:
        out.say(f"talking to {url} failed: {exc or type(exc).__name__}")
        return 3
    except BrokenPipeError:  # `chiffon watch | head`: the reader is gone, so are we
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # never a traceback: one line, with what failed
        out.say(f"unexpected error: {type(exc).__name__}: {exc}")
        return 4


class Interrupted(Exception):
    """Ctrl-C (SIGINT) stopped the verb."""


async def _interruptible(
    verb: Verb, url: str, token: str | None, options: Options, out: Output
) -> int:
    """Run `verb`; SIGINT cancels it (its client closes cleanly) and raises Interrupted."""

    async def work() -> int:
        async with Client(url, token) as client:
            return await verb(client, options, out)

    loop = asyncio.get_running_loop()
    task = asyncio.create_task(work())
    stopped = False

    def stop() -> None:
        nonlocal stopped
        stopped = True
        task.cancel()

    loop.add_signal_handler(signal.SIGINT, stop)
    try:
        return await task
    except asyncio.CancelledError:
        if stopped:
            raise Interrupted from None
        raise
    finally:
        loop.remove_signal_handler(signal.SIGINT)
