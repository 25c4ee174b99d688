"""Tasks as JSON response bodies. A stored task whose values cannot be written as JSON (a
row from before the strict edge, say) is shown with those values replaced, and logged: it
never turns a whole listing into a 500."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Final

import attrs
from aiohttp import web

from adapters.codec import Unencodable, dumps, task_to_json
from chiffon.model import Task

log = logging.getLogger(__name__)

UNSHOWABLE: Final = {"chiffon_error": "this stored value cannot be shown as JSON"}


def json_response(data: Any, status: int = 200) -> web.Response:
    """Strict JSON (no NaN) with the API's content type."""
    return web.Response(text=dumps(data), status=status, content_type="application/json")


def task_response(task: Task) -> web.Response:
    try:  # encoded once: the text that proves it can be written is the body
        text = dumps(task_to_json(task))
    except Unencodable:
        return json_response(shown_task(task))
    return web.Response(text=text, content_type="application/json")


def page_response(tasks: Sequence[Task], next_cursor: str | None) -> web.Response:
    try:
        items = [task_to_json(t) for t in tasks]
        return json_response({"items": items, "next_cursor": next_cursor})
    except Unencodable:  # rare: find the bad ones and show the rest as they are
        shown = [shown_task(t) for t in tasks]
        return json_response({"items": shown, "next_cursor": next_cursor})


def shown_task(task: Task) -> dict[str, Any]:
    """The task as the API shows it; values that cannot be written are replaced."""
    try:
        data = task_to_json(task)
        dumps(data)
    except Unencodable as exc:
        log.error("task cannot be shown as stored: %s", exc, extra={"task_id": str(task.task_id)})
        data = task_to_json(attrs.evolve(task, parameters=dict(UNSHOWABLE), result=None))
        data["result"] = dict(UNSHOWABLE)
    return data
