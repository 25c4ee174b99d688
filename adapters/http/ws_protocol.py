"""The WebSocket push protocol: client messages, subscriptions and the frames we send."""

from __future__ import annotations

import json
from typing import Any, Final
from uuid import UUID

import attrs

from adapters.codec import Unencodable, agent_to_json, strict_json, task_to_json
from adapters.codec import dumps as strict_dumps
from adapters.http.rendering import shown_task
from chiffon.events import AgentUpdated, Event, TaskChanged
from chiffon.model import Agent, Task

TOPICS: Final = ("tasks", "agents")
SUBSCRIPTION_KEYS: Final = ("task_id", "trace_id", "topic")
ACTIONS: Final = ("subscribe", "unsubscribe", "ping")
PONG: Final = '{"event":"pong"}'


class ProtocolError(ValueError):
    """A client message the server cannot act on (error_code 1000; the connection stays open)."""

    def __init__(self, message: str, details: dict[str, list[str]]) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


@attrs.frozen
class Subscription:
    """What one subscribe asked for: `key` is task_id, trace_id or topic."""

    key: str
    value: UUID | str

    def matches(self, event: Event) -> bool:
        if isinstance(event, AgentUpdated):
            return self.value == "agents"
        if self.key == "task_id":
            return event.task.task_id == self.value
        if self.key == "trace_id":
            return event.task.trace_id == self.value
        return self.value == "tasks"

    def to_json(self) -> dict[str, str]:
        return {self.key: str(self.value)}


AGENTS_TOPIC: Final = Subscription("topic", "agents")
TASKS_TOPIC: Final = Subscription("topic", "tasks")


def wanted_by(event: Event) -> tuple[Subscription, ...]:
    """Every subscription that matches `event` (Subscription.matches turned around): at most
    three, which is what lets a change be matched without looking at every subscription."""
    if isinstance(event, AgentUpdated):
        return (AGENTS_TOPIC,)
    task = event.task
    by_task, by_trace = (
        Subscription("task_id", task.task_id),
        Subscription("trace_id", task.trace_id),
    )
    return (by_task, by_trace, TASKS_TOPIC)


@attrs.frozen
class ClientMessage:
    action: str
    subscription: Subscription | None = None
    after_revision: int | None = None  # resume a task subscription after this revision


def parse_message(text: str) -> ClientMessage:
    """A client's text frame as a message; raises ProtocolError for anything else."""
    try:
        data = strict_json.loads(text)
    except strict_json.JsonRejected as exc:
        raise ProtocolError(f"message rejected: {exc}", {"message": [str(exc)]}) from None
    if not isinstance(data, dict):
        raise ProtocolError("message must be a JSON object", {"message": ["Not a JSON object."]})
    action = data.pop("action", None)
    if not isinstance(action, str) or action not in ACTIONS:
        expected = f"Must be one of: {', '.join(ACTIONS)}."
        raise ProtocolError(f"unknown action {action!r}", {"action": [expected]})
    if action == "ping":
        if data:
            raise ProtocolError("ping takes no other field", _unknown(data))
        return ClientMessage(action)
    after = _after_revision(action, data)
    return ClientMessage(action, parse_subscription(data), after)


def _after_revision(action: str, fields: dict[str, Any]) -> int | None:
    """`after_revision` (an integer >= 0), allowed only when subscribing to one task."""
    if "after_revision" not in fields:
        return None
    after = fields.pop("after_revision")
    if action != "subscribe" or "task_id" not in fields:
        raise ProtocolError(
            "after_revision goes with subscribe and a task_id",
            {"after_revision": ["Only with a task_id subscription."]},
        )
    if isinstance(after, bool) or not isinstance(after, int) or not 0 <= after < 2**31:
        raise ProtocolError(
            "after_revision must be an integer >= 0", {"after_revision": ["Not a revision."]}
        )
    return after


def parse_subscription(fields: dict[str, Any]) -> Subscription:
    """Exactly one of task_id (UUID), trace_id (UUID) or topic ("tasks" or "agents")."""
    unknown = {k: v for k, v in fields.items() if k not in SUBSCRIPTION_KEYS}
    if unknown:
        raise ProtocolError(f"unknown field(s): {', '.join(sorted(unknown))}", _unknown(unknown))
    if len(fields) != 1:
        raise ProtocolError(
            "give exactly one of task_id, trace_id, topic",
            {"subscription": [f"Exactly one of {', '.join(SUBSCRIPTION_KEYS)}."]},
        )
    ((key, value),) = fields.items()
    if key == "topic":
        if not isinstance(value, str) or value not in TOPICS:
            raise ProtocolError(f"unknown topic {value!r}", {"topic": ["Must be tasks or agents."]})
        return Subscription(key, value)
    try:
        return Subscription(key, UUID(value))
    except (TypeError, ValueError, AttributeError) as exc:
        raise ProtocolError(f"{key} must be a UUID", {key: ["Not a valid UUID."]}) from exc


def _unknown(fields: dict[str, Any]) -> dict[str, list[str]]:
    return {k: ["Unknown field."] for k in fields}


def dumps(data: Any) -> str:
    return strict_dumps(data)


def item_text(item: Task | Agent) -> str:
    """One task or agent as JSON text (a task that cannot be shown as stored is shown with a
    placeholder, see rendering.shown_task)."""
    try:
        return dumps(task_to_json(item) if isinstance(item, Task) else agent_to_json(item))
    except Unencodable:
        return dumps(shown_task(item) if isinstance(item, Task) else {})


def error_frame(
    code: int, message: str, details: Any = None, subscription: Subscription | None = None
) -> str:
    frame: dict[str, Any] = {"error_code": code, "error_message": message, "details": details}
    if subscription is not None:
        frame["subscription"] = subscription.to_json()
    return dumps(frame)


SUMMARY_LEAVES_OUT: Final = ("parameters", "result", "output")


def snapshot_frame(
    sub: Subscription, items: list[Task | Agent], truncated: bool, summary: bool = False
) -> str:
    """A snapshot; with `summary`, tasks leave out parameters, result and output (a client
    reads them with GET /api/v1/status/{id}), so its size does not grow with payloads."""
    data = ",".join(_summary_text(i) if summary else item_text(i) for i in items)
    head = dumps({"event": "snapshot", "subscription": sub.to_json()})[:-1]
    tail = ',"summary":true' if summary else ""
    return f'{head},"data":[{data}],"truncated":{dumps(truncated)}{tail}}}'


def _summary_text(item: Task | Agent) -> str:
    if not isinstance(item, Task):
        return item_text(item)
    light = attrs.evolve(item, parameters={}, result=None, output=None)
    data = {k: v for k, v in task_to_json(light).items() if k not in SUMMARY_LEAVES_OUT}
    return dumps(data)


def unsubscribed_frame(sub: Subscription) -> str:
    return dumps({"event": "unsubscribed", "subscription": sub.to_json()})


class OutEvent:
    """An event with its JSON data encoded once, however many connections push it."""

    __slots__ = ("_head", "event", "wanted")

    def __init__(self, event: Event) -> None:
        self.event = event
        self.wanted = wanted_by(event)
        self._head: str | None = None  # the frame up to its seq

    @property
    def item(self) -> Task | Agent:
        return self.event.agent if isinstance(self.event, AgentUpdated) else self.event.task

    def frame(self, seq: int) -> str:
        if self._head is None:
            event = self.event
            said = f',"change":{json.dumps(event.change)}' if isinstance(event, TaskChanged) else ""
            self._head = f'{{"event":"{event.kind}"{said},"data":{item_text(self.item)}'
        return f'{self._head},"seq":{seq}}}'
