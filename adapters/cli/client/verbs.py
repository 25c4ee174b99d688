"""The CLI client verbs' work: each takes a Client and the parsed options, prints, exits."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
from rich.console import Console

from adapters.cli.client import render
from adapters.cli.client.api import FINAL, Client, TaskJson
from chiffon.model import TaskStatus
from chiffon.visible_text import visible, visible_json

Options = Mapping[str, Any]


class UsageError(Exception):
    """A command line the client cannot act on (said in one line, exit 2)."""


@attrs.define
class Output:
    """Where a verb prints, and what to say if Ctrl-C stops it."""

    json: bool
    console: Console = attrs.field(factory=render.console)
    animate: bool = attrs.field(factory=lambda: sys.stdout.isatty() and sys.stderr.isatty())
    on_interrupt: str = ""

    def data(self, value: Any) -> None:
        print(render.dumps(value), flush=True)

    def say(self, line: str) -> None:
        """One line on stderr; what the server said in it is shown, never interpreted."""
        print(f"chiffon: {visible(line)}", file=sys.stderr, flush=True)


def parameters(pairs: list[str], params: str | None) -> dict[str, Any]:
    """--params JSON (or @file.json) merged with key=value pairs (values parsed as JSON when
    they parse, else kept as strings); the pairs win."""
    merged = _params_option(params) if params else {}
    for pair in pairs:
        key, eq, text = pair.partition("=")
        if not eq or not key:
            raise UsageError(f"bad parameter {pair!r}: expected key=value")
        try:
            merged[key] = json.loads(text)
        except ValueError:
            merged[key] = text
    return merged


def _params_option(params: str) -> dict[str, Any]:
    text, where = params, "--params"
    if params.startswith("@"):
        where = params[1:]
        try:
            text = Path(where).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read {where}: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise UsageError(f"{where} is not UTF-8 text: {exc}") from exc
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{where} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise UsageError(f"{where} must be a JSON object")
    return value


def concurrency(opts: Options) -> dict[str, Any] | None:
    """The API's concurrency object from --concurrency-key and --max-running."""
    key, most = opts.get("concurrency_key"), opts.get("max_running")
    if key is None:
        if most is not None:
            raise UsageError("--max-running goes with --concurrency-key")
        return None
    return {"key": key, "max_running": 1 if most is None else most}


async def dispatch(client: Client, opts: Options, out: Output) -> int:
    params = parameters(opts.get("pairs", []), opts.get("params"))
    accepted = await client.dispatch(
        opts["work_type"],
        params,
        priority=opts.get("priority"),
        timeout_s=opts.get("timeout_s"),
        trace_id=opts.get("trace_id"),
        task_id=opts.get("task_id"),
        retry=_retry(opts),
        delay_s=opts.get("delay_s"),
        not_before=opts.get("not_before"),
        on_no_agent="reject" if opts.get("reject") else None,
        concurrency=concurrency(opts),
    )
    task_id = accepted.task_id
    if not opts.get("wait"):
        if out.json:
            out.data(accepted.raw)
        else:
            print(visible(str(task_id)), flush=True)
        return 0
    out.on_interrupt = (
        f"stopped waiting; task {task_id} goes on (cancel it with `chiffon cancel {task_id}`)"
    )
    if not out.json:  # the ids first, on stderr (stdout keeps the result)
        trace = f"trace {accepted.trace_id}"
        out.say(f"dispatched {opts['work_type']} as task {task_id} ({trace}); waiting for it")
    final = await _follow(client, str(task_id), opts["work_type"], out)
    return _final(final, task_id, out)


def _final(final: TaskJson, task_id: object, out: Output) -> int:
    """Print a followed task's end: its result (or JSON); 1 with why when not completed."""
    completed = final.get("status") == TaskStatus.COMPLETED
    if out.json or completed:
        out.data(final if out.json else final.get("result"))
    if not completed:
        reason = final.get("error_message") or "no error message"
        exit_code = final.get("exit_code")
        code = "" if exit_code is None else f" (the handler's exit code was {exit_code})"
        out.say(f"task {task_id} {final.get('status')}: {reason}{code}")
    return 0 if completed else 1


def _retry(opts: Options) -> dict[str, Any] | None:
    """The API's retry object from the flags given (None: the server's default policy)."""
    ends = opts.get("retry_on")
    retry = {
        "max_attempts": opts.get("max_attempts"),
        "backoff_s": opts.get("backoff_s"),
        "backoff_max_s": opts.get("backoff_max_s"),
        "on": None if ends is None else [e.strip() for e in ends.split(",") if e.strip()],
    }
    given = {k: v for k, v in retry.items() if v is not None}
    return given or None


async def _follow(client: Client, task_id: str, work_type: str, out: Output) -> TaskJson:
    """The task's final state, with a live progress bar (on stderr) when on a terminal."""
    from rich.progress import (  # only here: the one-shot verbs start without it
        BarColumn,
        Progress,
        SpinnerColumn,
        TaskProgressColumn,
        TextColumn,
    )

    columns = (SpinnerColumn(), TextColumn("{task.description}", markup=False), BarColumn())
    text = (TaskProgressColumn(), TextColumn("{task.fields[message]}", markup=False))
    bar = Progress(
        *columns,
        *text,
        console=render.console(stderr=True),
        transient=True,
        disable=not out.animate,
    )
    with bar:
        row = bar.add_task(f"{work_type} pending", total=100, message="")
        async with contextlib.aclosing(client.watch(task_id=task_id)) as states:
            async for task in states:
                bar.update(
                    row,
                    completed=task.get("progress_percent") or 0,
                    description=visible(f"{work_type} {task.get('status')}"),
                    message=visible(str(task.get("progress_message") or "")),
                )
                if task.get("status") in FINAL:
                    return task
    raise AssertionError("watch ended")  # it never does on its own


async def status(client: Client, opts: Options, out: Output) -> int:
    task = await client.status(opts["task_id"])
    if out.json:
        out.data(task)
    else:
        out.console.print(render.task_view(task))
    return 0


async def tasks(client: Client, opts: Options, out: Output) -> int:
    if opts.get("limit", 1) < 1:
        raise UsageError("--limit must be at least 1")
    found = [
        task
        async for task in client.tasks(
            status=opts.get("status"),
            work_type=opts.get("work_type"),
            agent_type=opts.get("agent_type"),
            trace_id=opts.get("trace_id"),
            waiting_reason=opts.get("waiting_reason"),
            id_prefix=opts.get("id_prefix"),
            agent_id=opts.get("agent_id"),
            concurrency_key=opts.get("concurrency_key"),
            text=opts.get("text"),
            created_after=opts.get("created_after"),
            created_before=opts.get("created_before"),
            limit=opts.get("limit"),
        )
    ]
    if out.json:
        out.data(found)
    else:
        out.console.print(
            render.tasks_table(found, plain=not out.console.is_terminal) if found else "no tasks"
        )
    return 0


async def agents(client: Client, opts: Options, out: Output) -> int:
    found = await client.agents(opts.get("agent_type"), opts.get("status"))
    if out.json:
        out.data(found)
    else:
        out.console.print(
            render.agents_table(found, plain=not out.console.is_terminal) if found else "no agents"
        )
    return 0


async def cancel(client: Client, opts: Options, out: Output) -> int:
    answer = await client.cancel(opts["task_id"])
    if out.json:
        out.data(answer)
    else:
        print(visible(f"{answer['status']} {answer['task_id']}"), flush=True)
    return 0


async def rerun(client: Client, opts: Options, out: Output) -> int:
    answer = await client.rerun(opts["task_id"])
    task_id = answer["task_id"]
    if not opts.get("wait"):
        if out.json:
            out.data(answer)
        else:
            print(task_id, flush=True)
        return 0
    out.on_interrupt = f"stopped waiting; task {task_id} goes on"
    if not out.json:
        out.say(f"rerun of {opts['task_id']} is task {task_id}; waiting for it")
    final = await _follow(client, task_id, "rerun", out)
    return _final(final, task_id, out)


async def watch(client: Client, opts: Options, out: Output) -> int:
    """One line (or one JSON document) per change, until Ctrl-C."""
    states = client.watch(task_id=opts.get("task_id"), trace_id=opts.get("trace_id"))
    async with contextlib.aclosing(states):
        async for task in states:
            if out.json:
                line = visible_json(json.dumps(task, ensure_ascii=False))
            else:
                line = render.change_line(task)
            print(line, flush=True)
    return 0


async def audit(client: Client, opts: Options, out: Output) -> int:
    """The history checker: one line per violation; exit 1 if there is any."""
    report = await client.audit(
        opts.get("created_after"), opts.get("trace_id"), settled=bool(opts.get("settled"))
    )
    violations = report["violations"]
    if out.json:
        out.data(report)
    else:
        for v in violations:
            at = ", ".join(str(r) for r in v["revisions"]) or "-"
            print(visible(f"{v['task_id']} [{v['rule']}] revisions {at}: {v['message']}"))
        checked = report["tasks_checked"]
        print(f"{checked} tasks checked, {len(violations)} violations", flush=True)
    return 1 if violations else 0


Verb = Callable[[Client, Options, Output], Awaitable[int]]
RUNNERS: dict[str, Verb] = {
    "dispatch": dispatch,
    "status": status,
    "tasks": tasks,
    "agents": agents,
    "cancel": cancel,
    "rerun": rerun,
    "watch": watch,
    "audit": audit,
}
