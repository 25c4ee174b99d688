"""How `chiffon agent` stops: the first Ctrl-C (or SIGTERM) waits for running tasks and says
for what; the second stops at once (Celery's warm and cold shutdown)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from typing import Final

from chiffon.agent import AgentRuntime

log = logging.getLogger(__name__)
STILL_WAITING_EVERY_S: Final = 5.0


async def stop_agent(runtime: AgentRuntime, grace_s: float) -> None:
    """Warm stop within `grace_s`, cold at a second signal; says what it does at each step."""
    hurry = asyncio.Event()
    loop = asyncio.get_running_loop()

    def now() -> None:
        if hurry.is_set():
            return
        hurry.set()
        held = runtime.running_tasks
        log.warning(
            "chiffon agent: stopping now; %d running task(s) abandoned to the orchestrator's "
            "loss policy (retried or failed): %s",
            len(held),
            _ids(held),
        )

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, now)
    running = runtime.running_tasks
    if running:
        log.warning(
            "chiffon agent: stopping: no new work taken; waiting up to %g s for %d running "
            "task(s) to finish: %s; press Ctrl-C again to stop now",
            grace_s,
            len(running),
            _ids(running),
        )
    else:
        log.warning("chiffon agent: stopping: no task running")
    reminder = asyncio.create_task(_still_waiting(runtime, grace_s, hurry))
    try:
        await runtime.stop(grace_s=grace_s, hurry=hurry)
    finally:
        reminder.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reminder
    log.warning("chiffon agent: stopped")


async def _still_waiting(runtime: AgentRuntime, grace_s: float, hurry: asyncio.Event) -> None:
    deadline = time.monotonic() + grace_s
    while True:
        await asyncio.sleep(STILL_WAITING_EVERY_S)
        left = runtime.running_tasks
        if not left or hurry.is_set():
            return
        log.warning(
            "chiffon agent: still waiting for %d task(s), %.0f s left (Ctrl-C stops now): %s",
            len(left),
            max(0.0, deadline - time.monotonic()),
            _ids(left),
        )


def _ids(ids: tuple[object, ...]) -> str:
    return ", ".join(str(i) for i in ids) or "-"
