"""What a caller asks of the orchestrator, validated by the domain's own rules."""

from __future__ import annotations

import json
from uuid import UUID

import attrs

from chiffon.config import MAX_PARAMETERS_BYTES, MAX_TIMEOUT_S
from chiffon.errors import InvalidRequest, PayloadTooLarge
from chiffon.json_values import JsonRejected, check, same_json
from chiffon.model import (
    PRIORITY_DEFAULT,
    PRIORITY_MAX,
    PRIORITY_MIN,
    JsonObject,
    NoAgentPolicy,
    Task,
)


@attrs.frozen
class DispatchCommand:
    task_id: UUID
    work_type: str
    parameters: JsonObject = attrs.Factory(dict)
    priority: int = PRIORITY_DEFAULT
    timeout_s: float | None = None
    trace_id: UUID | None = None
    on_no_agent: NoAgentPolicy = NoAgentPolicy.QUEUE

    def validate(self) -> None:
        """Raise InvalidRequest / PayloadTooLarge naming the failing field."""
        problems: dict[str, list[str]] = {}
        if not self.work_type.strip():
            problems["work_type"] = ["must not be empty"]
        if not PRIORITY_MIN <= self.priority <= PRIORITY_MAX:
            problems["priority"] = [f"must be between {PRIORITY_MIN} and {PRIORITY_MAX}"]
        if self.timeout_s is not None and not 0 < self.timeout_s <= MAX_TIMEOUT_S:
            problems["timeout_s"] = [f"must be greater than 0 and at most {MAX_TIMEOUT_S:g}"]
        try:
            check(self.parameters, path="parameters")
        except JsonRejected as exc:
            problems["parameters"] = [str(exc)]
        if problems:
            raise InvalidRequest(f"invalid request: {', '.join(sorted(problems))}", problems)
        size = len(json.dumps(self.parameters, separators=(",", ":")))
        if size > MAX_PARAMETERS_BYTES:
            raise PayloadTooLarge(
                f"parameters are {size} bytes; the limit is {MAX_PARAMETERS_BYTES}",
                {"parameters": [f"at most {MAX_PARAMETERS_BYTES} bytes of JSON"]},
            )

    def matches(self, task: Task) -> bool:
        """True when `task` was stored from this same request (idempotent re-dispatch)."""
        return (
            task.work_type == self.work_type
            and same_json(task.parameters, self.parameters)
            and task.priority == self.priority
            and task.timeout_s == (None if self.timeout_s is None else float(self.timeout_s))
            and (self.trace_id is None or self.trace_id == task.trace_id)
        )
