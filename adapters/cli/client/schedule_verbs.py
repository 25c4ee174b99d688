"""`chiffon schedule add|list|show|pause|resume|rm|trigger`: schedules from the command line."""

from __future__ import annotations

from typing import Any

from adapters.cli.client.api import Client
from adapters.cli.client.verbs import Options, Output, UsageError, concurrency, parameters
from chiffon.visible_text import visible

# option name -> the body field it sets (only when given)
_BODY_OPTIONS = {
    "cron": "cron",
    "tz": "timezone",
    "every": "interval_s",
    "priority": "priority",
    "timeout_s": "timeout_s",
    "overlap": "overlap",
    "catch_up": "catch_up",
    "window_s": "catch_up_window_s",
    "max_runs": "max_runs",
    "until": "end_at",
    "note": "note",
    "on_no_agent": "on_no_agent",
}


def schedule_body(opts: Options) -> dict[str, Any]:
    """The create body from `schedule add`'s options."""
    if (opts.get("cron") is None) == (opts.get("every") is None):
        raise UsageError("give --cron EXPR (with --tz ZONE) or --every SECONDS")
    body: dict[str, Any] = {
        "work_type": opts["work_type"],
        "parameters": parameters(opts.get("pairs", []), opts.get("params")),
    }
    body.update({field: opts[o] for o, field in _BODY_OPTIONS.items() if opts.get(o) is not None})
    if opts.get("max_attempts") is not None:
        body["retry"] = {"max_attempts": opts["max_attempts"]}
    if opts.get("paused"):
        body["paused"] = True
    limit = concurrency(opts)
    if limit is not None:
        body["concurrency"] = limit
    return body


def when(s: dict[str, Any]) -> str:
    if s["cron"] is not None:
        return f"cron {s['cron']!r} {s['timezone']}"
    return f"every {s['interval_s']:g}s"


def line(s: dict[str, Any]) -> str:
    state = "paused" if s["paused"] else f"next {s['next_fire_at'] or 'never (over)'}"
    note = f"  # {s['note']}" if s["note"] else ""
    return f"{s['schedule_id']}  {s['work_type']}  {when(s)}  {state}  runs {s['runs']}{note}"


async def schedule(client: Client, opts: Options, out: Output) -> int:
    action = opts["action"]
    if action == "add":
        answer: Any = await client.create_schedule(schedule_body(opts))
    elif action == "list":
        answer = await client.schedules()
    elif action == "show":
        answer = await client.schedule(opts["schedule_id"])
    elif action == "rm":
        await client.delete_schedule(opts["schedule_id"])
        answer = {"deleted": opts["schedule_id"]}
    else:  # pause, resume, trigger
        answer = await client.schedule_action(opts["schedule_id"], action)
    if out.json:
        out.data(answer)
    else:
        for text in _lines(action, answer):
            print(visible(text), flush=True)
    return 0


def _lines(action: str, answer: Any) -> list[str]:
    if action == "add":
        return [answer["schedule_id"]]
    if action == "list":
        return [line(s) for s in answer] or ["no schedules"]
    if action == "rm":
        return [f"deleted {answer['deleted']}"]
    if action == "trigger":
        return [answer["task_id"]]
    if action in ("pause", "resume"):
        return [line(answer)]
    runs = [f"  {t['created_at']}  {t['status']}  {t['task_id']}" for t in answer["last_runs"]]
    return [
        line(answer),
        "upcoming: " + (", ".join(answer["upcoming"]) or "none"),
        f"overlap {answer['overlap']}, catch-up {answer['catch_up']}",
        "last runs:" if runs else "last runs: none",
        *runs,
    ]
