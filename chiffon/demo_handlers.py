"""The built-in demo handlers: echo, sleep (with progress, cancellable) and fail."""

from __future__ import annotations

import asyncio
from typing import Any

from chiffon.handlers import HandlerContext, HandlerError, HandlerOutcome, HandlerRegistry

demo = HandlerRegistry()

MAX_SLEEP_S = 3600.0


@demo.register("echo")
async def echo(ctx: HandlerContext) -> HandlerOutcome:
    """Returns its parameters as the result."""
    return HandlerOutcome(result=ctx.parameters, output="echoed parameters")


@demo.register("sleep")
async def sleep(ctx: HandlerContext) -> HandlerOutcome:
    """Sleeps `seconds` (default 1), reporting progress each step of `step_s` (default 1)."""
    seconds = _number(ctx.parameters, "seconds", 1.0)
    step = max(_number(ctx.parameters, "step_s", 1.0), 0.01)
    if not 0 <= seconds <= MAX_SLEEP_S:
        raise HandlerError(f"seconds must be between 0 and {MAX_SLEEP_S}", exit_code=2)
    slept = 0.0
    while slept < seconds:
        chunk = min(step, seconds - slept)
        await asyncio.sleep(chunk)
        slept += chunk
        await ctx.progress(int(100 * slept / seconds), f"slept {slept:g}s of {seconds:g}s")
    return HandlerOutcome(result={"slept_s": seconds}, output=f"slept {seconds:g}s")


@demo.register("fail")
async def fail(ctx: HandlerContext) -> Any:
    """Fails with `message` (default "failed on purpose") and `exit_code` (default 1)."""
    message = str(ctx.parameters.get("message", "failed on purpose"))
    code = ctx.parameters.get("exit_code", 1)
    raise HandlerError(message, exit_code=code if isinstance(code, int) else 1)


def _number(params: dict[str, Any], name: str, default: float) -> float:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise HandlerError(f"parameter {name!r} must be a number", exit_code=2)
    return float(value)
