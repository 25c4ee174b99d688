"""`chiffon cancel` with filters: find the tasks, say how many, ask, then cancel each."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from adapters.cli.client.api import FINAL, Client, TaskJson
from adapters.cli.client.errors import ApiError
from adapters.cli.client.verbs import Options, Output, UsageError, cancel

FILTERS = (
    "status",
    "work_type",
    "agent_type",
    "trace_id",
    "waiting_reason",
    "id_prefix",
    "agent_id",
    "concurrency_key",
    "text",
    "created_after",
    "created_before",
)
NOT_CANCELLABLE = 2002  # finished meanwhile


def filters_of(opts: Options) -> dict[str, Any]:
    return {name: opts[name] for name in FILTERS if opts.get(name) is not None}


async def cancel_one_or_many(client: Client, opts: Options, out: Output) -> int:
    """`chiffon cancel ID`, or `chiffon cancel --status pending ...` (every task found)."""
    if opts.get("task_id") is not None:
        if filters_of(opts):
            raise UsageError("give a task ID or filters, not both")
        return await cancel(client, opts, out)
    return await cancel_many(client, opts, out)


async def cancel_many(client: Client, opts: Options, out: Output) -> int:
    """Exit 0 when every task found was cancelled (or had finished meanwhile), 1 when the
    answer to the question was not yes."""
    filters = filters_of(opts)
    if not filters:
        raise UsageError("give a task ID, or filters (--status pending, --work-type W, ...)")
    found = [t async for t in client.tasks(**filters) if t.get("status") not in FINAL]
    if not found:
        out.say("no pending or running task matches")
        return 0
    said = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in filters.items())
    question = f"cancel {len(found)} task{'s' if len(found) != 1 else ''} ({said})? [y/N] "
    if not opts.get("yes") and not await _confirmed(question):
        out.say("nothing cancelled")
        return 1
    answers = [await _cancel(client, task) for task in found]
    if out.json:
        out.data(answers)
    late = sum(1 for a in answers if a["status"] != "cancelled")
    tail = f" ({late} had finished meanwhile)" if late else ""
    out.say(f"cancelled {len(answers) - late} of {len(answers)} tasks{tail}")
    return 0


async def _cancel(client: Client, task: TaskJson) -> dict[str, Any]:
    try:
        return await client.cancel(task["task_id"])
    except ApiError as exc:
        if exc.error_code != NOT_CANCELLABLE:
            raise
        return {"task_id": task["task_id"], "status": "finished", "cancel_outcome": None}


async def _confirmed(question: str) -> bool:
    print(f"chiffon: {question}", end="", file=sys.stderr, flush=True)
    answer = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    return answer.strip().lower() in ("y", "yes")
