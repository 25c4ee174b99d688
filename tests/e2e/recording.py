"""The demo handlers (echo, sleep, fail), each run recorded in a file: the e2e tests' witness.

An agent started with `--handlers tests.e2e.recording` and `E2E_RUNLOG=<path>` appends
one JSON line when a handler starts and one when it returns, so a test can tell how many times
each task really ran, on which agent and as which attempt (the store only keeps the last).
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from chiffon.demo_handlers import demo
from chiffon.handlers import Handler, HandlerContext, HandlerRegistry

RUNLOG_ENV = "E2E_RUNLOG"

handlers = HandlerRegistry()


def _record(event: str, ctx: HandlerContext) -> None:
    path = os.environ.get(RUNLOG_ENV)
    if not path:
        return
    line = json.dumps(
        {
            "event": event,
            "task_id": str(ctx.task_id),
            "attempt": ctx.attempt,
            "work_type": ctx.work_type,
            "agent_id": os.environ.get("CHIFFON_AGENT_ID"),
            "pid": os.getpid(),
        }
    )
    # One O_APPEND write per line: lines of concurrent agent processes never interleave.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def _recorded(handler: Handler) -> Handler:
    async def run(ctx: HandlerContext) -> Any:
        _record("start", ctx)
        value = await handler(ctx)
        _record("end", ctx)
        return value

    return run


async def _stubborn(ctx: HandlerContext) -> dict[str, str]:
    """Work that cannot be interrupted once started (a commit, a deploy step): a cancel that
    arrives meanwhile is too late, and the result still comes."""
    try:
        await asyncio.sleep(float(ctx.parameters.get("seconds", 1)))
    except asyncio.CancelledError:
        await asyncio.sleep(0.2)  # finishes what it started regardless
    return {"finished": "anyway"}


for _work_type, _handler in {**demo, "stubborn": _stubborn}.items():
    handlers.add(_work_type, _recorded(_handler))
