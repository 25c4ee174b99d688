"""The common dispatch body, loaded without marshmallow's generic machinery.

`DispatchRequestSchema.load` costs about 13 us per dispatch, a twentieth of what the whole
request costs in memory mode. Most bodies are plain: a task_id, a work_type, parameters and
perhaps a priority, a timeout, a trace_id and a request_id, all valid. `load_plain` loads
exactly those, to what the schema would give, and declines (None) anything else: another
field, a value of another type, anything out of range. A declined body goes through the
schema, so every error answer is the schema's own, byte for byte
(tests/http/test_dispatch_body.py checks that the two agree on generated bodies).
"""

from __future__ import annotations

import re
from typing import Any, Final
from uuid import UUID

from adapters.http.schemas import NO_CONTROL_CHARACTERS
from chiffon.config import MAX_TIMEOUT_S, MAX_WORK_TYPE_CHARS
from chiffon.model import PRIORITY_DEFAULT, PRIORITY_MAX, PRIORITY_MIN, NoAgentPolicy

PLAIN_FIELDS: Final = frozenset(
    {"task_id", "work_type", "parameters", "priority", "timeout_s", "trace_id", "request_id"}
)
_SAFE: Final = re.compile(NO_CONTROL_CHARACTERS)


def load_plain(body: dict[str, Any]) -> dict[str, Any] | None:
    """The loaded body, as `DispatchRequestSchema().load(body)` gives it, or None to say
    "let the schema do it" (the body is not plain, or not valid)."""
    if not body.keys() <= PLAIN_FIELDS:
        return None
    task_id = _uuid(body.get("task_id"))
    work_type = body.get("work_type")
    parameters = body.get("parameters", {})
    priority = body.get("priority", PRIORITY_DEFAULT)
    timeout_s = body.get("timeout_s")
    trace_id = body.get("trace_id")
    if (
        task_id is None
        or not _safe_name(work_type)
        or type(parameters) is not dict
        or type(priority) is not int
        or not PRIORITY_MIN <= priority <= PRIORITY_MAX
    ):
        return None
    if timeout_s is not None:
        if type(timeout_s) not in (int, float) or not 0 < timeout_s <= MAX_TIMEOUT_S:
            return None
        timeout_s = float(timeout_s)
    if trace_id is not None:
        trace_id = _uuid(trace_id)
        if trace_id is None:
            return None
    request_id = body.get("request_id")
    if request_id is not None:
        request_id = _uuid(request_id)
        if request_id is None:
            return None
    return {
        "task_id": task_id,
        "work_type": work_type,
        "parameters": dict(parameters),
        "priority": priority,
        "timeout_s": timeout_s,
        "trace_id": trace_id,
        "request_id": request_id,
        "retry": None,
        "not_before": None,
        "delay_s": None,
        "on_no_agent": NoAgentPolicy.QUEUE,
        "concurrency": None,
    }


def _uuid(value: object) -> UUID | None:
    if type(value) is not str:
        return None
    try:
        return UUID(value)
    except ValueError:
        return None


def _safe_name(value: object) -> bool:
    if type(value) is not str or not 0 < len(value) <= MAX_WORK_TYPE_CHARS:
        return False
    if _SAFE.match(value) is None:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
