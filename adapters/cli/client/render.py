"""What the CLI client verbs print for people: rich tables, one-line changes, ages. Every
string that came from the server is shown with its control characters made visible and is
never read as rich markup (cells are Text, not str)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from adapters.cli.client.task_json import TaskJson
from chiffon.visible_text import visible, visible_json

TASK_COLUMNS = ("id", "status", "work type", "agent", "attempt", "priority", "progress", "age")
AGENT_COLUMNS = ("id", "type", "status", "cpu", "memory", "running/max", "heartbeat age")


def console(stderr: bool = False) -> Console:
    """A console for stdout (or stderr); piped, it prints plain text at its natural width."""
    probe = Console(stderr=stderr)
    width = None if probe.is_terminal else 1000
    # No markup, emoji codes or highlighting in anything printed: a task's text is data.
    return Console(
        stderr=stderr, width=width, soft_wrap=False, markup=False, emoji=False, highlight=False
    )


def dumps(data: Any) -> str:
    """Indented JSON, readable (non-ASCII kept) and safe to print (visible_json)."""
    return visible_json(json.dumps(data, indent=2, ensure_ascii=False))


def cell(value: Any, *, lines: bool = False) -> Text:
    """A table cell or line for text from the server: escapes visible, no markup."""
    return Text(visible(str(value), lines=lines))


def tasks_table(
    tasks: Iterable[TaskJson], *, plain: bool = False, now: datetime | None = None
) -> Table:
    table = _table(TASK_COLUMNS, plain)
    for t in tasks:
        row = (
            t.get("task_id"),
            status_text(t),
            t.get("work_type"),
            _agent(t),
            t.get("attempt", ""),
            t.get("priority", ""),
            _percent(t.get("progress_percent")),
            age(t.get("created_at"), now),
        )
        table.add_row(*map(cell, row))
    return table


def agents_table(
    agents: Iterable[dict[str, Any]], *, plain: bool = False, now: datetime | None = None
) -> Table:
    table = _table(AGENT_COLUMNS, plain)
    for a in agents:
        res = a.get("resources") or {}
        running = len(a.get("running_tasks") or [])
        row = (
            a.get("agent_id"),
            a.get("agent_type"),
            a.get("status"),
            _percent(res.get("cpu_percent")),
            _percent(res.get("memory_percent")),
            f"{running}/{a.get('max_concurrency', '?')}",
            age(a.get("last_heartbeat_at"), now),
        )
        table.add_row(*map(cell, row))
    return table


def task_view(task: TaskJson, now: datetime | None = None) -> Table:
    """One task as field/value lines; the result and parameters as JSON."""
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    progress = _percent(task.get("progress_percent"))
    if task.get("progress_message"):
        progress += f"  {task['progress_message']}"
    rows = {
        "task": task.get("task_id"),
        "status": task.get("status"),
        "waiting": _waiting(task),
        "cancel": task.get("cancel_outcome"),
        "concurrency": _concurrency(task),
        "work type": task.get("work_type"),
        "agent": _agent(task),
        "attempt": f"{task.get('attempt')} of {task.get('max_attempts')}",
        "priority": task.get("priority"),
        "progress": progress,
        "age": age(task.get("created_at"), now),
        "trace": task.get("trace_id"),
        "rerun of": task.get("rerun_of"),
        "parameters": json.dumps(task.get("parameters")),
        "error": task.get("error_message"),
        "exit code": task.get("exit_code"),
        "output": task.get("output"),
        "result": None if task.get("result") is None else json.dumps(task["result"]),
    }
    for name, value in rows.items():
        if value is not None and value != "":
            table.add_row(name, cell(value, lines=name in _BLOCKS))
    return table


_BLOCKS = frozenset({"output", "error"})  # shown as they are, lines and all


def change_line(task: TaskJson) -> str:
    """One line for one change of a task (chiffon watch)."""
    when = _parse(task.get("updated_at"))
    stamp = when.astimezone().strftime("%H:%M:%S") if when else "--:--:--"
    parts = [stamp, str(task.get("task_id")), str(task.get("work_type")), status_text(task)]
    if task.get("progress_percent") is not None:
        parts.append(_percent(task["progress_percent"]))
    for key in ("progress_message", "error_message"):
        if task.get(key):
            parts.append(str(task[key]))
    return visible("  ".join(parts))


def status_text(task: TaskJson) -> str:
    """The status with why it waits, or how its cancel ended: `pending (no_agent)`."""
    detail = task.get("waiting_reason") or task.get("cancel_outcome")
    return f"{task.get('status')} ({detail})" if detail else str(task.get("status"))


def _concurrency(task: TaskJson) -> str | None:
    key = task.get("concurrency_key")
    if key is None:
        return None
    slot = "admitted" if task.get("admitted_at") else "not admitted yet"
    return f"{key} (max {task.get('concurrency_max_running')} running; {slot})"


def _waiting(task: TaskJson) -> str | None:
    reason = task.get("waiting_reason")
    until = _parse(task.get("waiting_until"))
    if reason is None or until is None:
        return reason
    return f"{reason} until {until.astimezone():%H:%M:%S}"


def age(timestamp: Any, now: datetime | None = None) -> str:
    """How long ago `timestamp` (ISO 8601) was: 4s, 12m, 3h, 2d."""
    then = _parse(timestamp)
    if then is None:
        return "-"
    seconds = max(0, int(((now or datetime.now(UTC)) - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _table(columns: Iterable[str], plain: bool) -> Table:
    """Columns under a header; `plain` (not a terminal): no rule, easy to cut and awk."""
    table = Table(box=None if plain else box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for name in columns:
        table.add_column(name, no_wrap=name == "id")
    return table


def _agent(task: TaskJson) -> str:
    agent_type, agent_id = task.get("agent_type") or "-", task.get("agent_id")
    return f"{agent_type}/{str(agent_id)[:8]}" if agent_id else str(agent_type)


def _percent(value: Any) -> str:
    if isinstance(value, int):
        return f"{value}%"
    return f"{value:.1f}%" if isinstance(value, float) else "-"


def _parse(timestamp: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(timestamp))
    except ValueError:
        return None
