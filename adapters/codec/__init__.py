"""The one cattrs converter: domain objects <-> the JSON wire format (shared by adapters)."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final
from uuid import UUID, uuid4

import cattrs

from adapters.codec import strict_json
from chiffon.events import AgentUpdated, Event, ScheduleChange, ScheduleChanged, TaskChanged
from chiffon.message_limits import check_agent_message
from chiffon.model import (
    Agent,
    Cancel,
    ChangeKind,
    Heartbeat,
    OutboxPayload,
    StatusUpdate,
    Task,
    TaskAnnouncement,
    WorkRequest,
    WorkResult,
)
from chiffon.schedules import Schedule

PROTOCOL_VERSION: Final = "1.0"
MAX_MESSAGE_BYTES: Final = 4 * 1024 * 1024

converter = cattrs.Converter()
converter.register_unstructure_hook(UUID, str)
converter.register_structure_hook(UUID, lambda v, _: v if isinstance(v, UUID) else UUID(str(v)))


def _dt_out(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _dt_in(value: Any, _: Any) -> datetime:
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        raise ValueError("timestamps must carry a UTC offset")
    return parsed.astimezone(UTC)


converter.register_unstructure_hook(datetime, _dt_out)
converter.register_structure_hook(datetime, _dt_in)
converter.register_structure_hook(Any, lambda v, _: v)

Payload = WorkRequest | StatusUpdate | WorkResult | Heartbeat | Cancel

MESSAGE_TYPES: Final[dict[str, type[Any]]] = {
    "work_request": WorkRequest,
    "work_status": StatusUpdate,
    "work_result": WorkResult,
    "heartbeat": Heartbeat,
    "cancel": Cancel,
}
TYPE_NAMES: Final[dict[type[Any], str]] = {cls: name for name, cls in MESSAGE_TYPES.items()}


class MalformedMessage(ValueError):
    """Bytes that are not a valid chiffon envelope (goes to the dead-letter queue)."""


class Unencodable(ValueError):
    """A value that cannot be written as strict JSON (NaN, too deep, not JSON at all)."""


_STRICT: Final = json.JSONEncoder(separators=(",", ":"), allow_nan=False)  # made once, not per call


def dumps(value: Any) -> str:
    """Strict JSON text: NaN and Infinity are refused, as the decoder refuses them."""
    try:
        return _STRICT.encode(value)
    except (ValueError, TypeError, RecursionError) as exc:
        raise Unencodable(f"cannot be written as JSON: {exc}") from None


def message_type(payload: Payload) -> str:
    return TYPE_NAMES[type(payload)]


# An envelope's message_id need only be unique (nothing is authorized by it, and no consumer
# keys anything on it): one random version 4 UUID per process, counted up in its low 48 bits,
# instead of os.urandom for each message. Drawn again in a forked child.
_COUNTED_BITS: Final = 48
_envelope_ids: list[tuple[int, itertools.count[int]]] = []


def _draw_envelope_ids() -> None:
    _envelope_ids[:] = [(uuid4().int >> _COUNTED_BITS << _COUNTED_BITS, itertools.count(1))]


_draw_envelope_ids()
os.register_at_fork(after_in_child=_draw_envelope_ids)


def _envelope_id() -> str:
    base, counter = _envelope_ids[0]
    return str(UUID(int=base | next(counter)))


def encode_message(payload: Payload, from_agent: str | None = None) -> bytes:
    """The wire envelope of one bus message, as UTF-8 JSON; raises Unencodable."""
    data = _unstructure(payload)  # its ids already as text: the envelope repeats them
    envelope = {
        "protocol_version": PROTOCOL_VERSION,
        "message_id": _envelope_id(),
        "type": message_type(payload),
        "from_agent": from_agent,
        "to_agent": data.get("agent_type"),
        "timestamp": datetime.now(UTC).isoformat(),
        "trace_id": data.get("trace_id"),
        "request_id": data.get("request_id"),
        "priority": data.get("priority"),
        "payload": data,
        "x_custom_fields": {},
    }
    return dumps(envelope).encode()


def _unstructure(value: Any) -> Any:
    try:
        return converter.unstructure(value)
    except RecursionError:
        raise Unencodable("nested too deeply to be written as JSON") from None


def decode_message(body: bytes) -> Payload:
    """Parse an envelope; raises MalformedMessage for anything that is not one, or is out of
    bounds (chiffon.message_limits)."""
    if len(body) > MAX_MESSAGE_BYTES:
        raise MalformedMessage(f"message of {len(body)} bytes; the limit is {MAX_MESSAGE_BYTES}")
    try:
        envelope = strict_json.loads(body)
        kind = MESSAGE_TYPES[envelope["type"]]
        if envelope.get("protocol_version") != PROTOCOL_VERSION:
            raise ValueError(f"unsupported protocol_version {envelope.get('protocol_version')!r}")
        payload: Payload = converter.structure(envelope["payload"], kind)
        if isinstance(payload, StatusUpdate | WorkResult | Heartbeat):
            check_agent_message(payload)
        return payload
    except (ValueError, KeyError, TypeError, AttributeError, cattrs.BaseValidationError) as exc:
        raise MalformedMessage(f"not a chiffon message: {exc}") from exc


def task_to_json(task: Task) -> dict[str, Any]:
    """A task as the API shows it; raises Unencodable if its values nest too deeply."""
    data: dict[str, Any] = _unstructure(task)
    return data


def agent_to_json(agent: Agent) -> dict[str, Any]:
    data: dict[str, Any] = _unstructure(agent)
    return data


ANNOUNCEMENT = "task_announcement"


def outbox_payload_to_json(payload: OutboxPayload) -> dict[str, Any]:
    """An outbox payload as stored: its message type and its fields."""
    if isinstance(payload, TaskAnnouncement):
        data = task_to_json(payload.task)
        return {"type": ANNOUNCEMENT, "data": data, "change": payload.change.value}
    return {"type": message_type(payload), "data": converter.unstructure(payload)}


def outbox_payload_from_json(data: dict[str, Any]) -> OutboxPayload:
    """The inverse of `outbox_payload_to_json`."""
    if data["type"] == ANNOUNCEMENT:
        task = converter.structure(data["data"], Task)
        return TaskAnnouncement(task, ChangeKind(data.get("change", _older_change(task))))
    kind = MESSAGE_TYPES[data["type"]]
    if kind not in (WorkRequest, Cancel):
        raise ValueError(f"not an outbox payload type: {data['type']!r}")
    payload: WorkRequest | Cancel = converter.structure(data["data"], kind)
    return payload


def structure(data: Any, cls: type[Any]) -> Any:
    return converter.structure(data, cls)


# Events of the notifier, as they travel between orchestrator replicas (and to WebSockets).


def encode_event(event: Event) -> bytes:
    """An event as UTF-8 JSON: `{"event": kind, "data": task or agent as the API shows it}`,
    and for a task the kind of change, `"change": "started"`."""
    if isinstance(event, TaskChanged):
        told = {"event": event.kind, "change": event.change, "data": task_to_json(event.task)}
        return dumps(told).encode()
    if isinstance(event, ScheduleChanged):  # the stored form, as the schedule store keeps it
        said = {"event": event.kind, "change": event.change.value}
        return dumps({**said, "data": converter.unstructure(event.schedule)}).encode()
    return dumps({"event": event.kind, "data": agent_to_json(event.agent)}).encode()


def encode_events(events: Sequence[Event], origin: str = "") -> bytes:
    """Several events in one message: `{"origin": replica, "events": [event, ...]}`, in order."""
    parts = b",".join(encode_event(e) for e in events)
    return b'{"origin":' + json.dumps(origin).encode() + b',"events":[' + parts + b"]}"


def events_origin(body: bytes) -> str:
    """Who sent a message of `encode_events` ("" if unknown), read without decoding events."""
    head = body[:64]
    if not head.startswith(b'{"origin":"'):
        return ""
    return head[11:].split(b'"', 1)[0].decode(errors="replace")


def decode_events(body: bytes) -> list[Event]:
    """The events of `encode_events` (or of a single `encode_event`), in order."""
    try:
        envelope = strict_json.loads(body)
        items = envelope.get("events", [envelope])
        return [_event_from(item) for item in items]
    except (ValueError, KeyError, TypeError, AttributeError, cattrs.BaseValidationError) as exc:
        raise MalformedMessage(f"not chiffon events: {exc}") from exc


def _event_from(item: dict[str, Any]) -> Event:
    kind, data = item["event"], item["data"]
    if kind == TaskChanged.kind:
        task = converter.structure(data, Task)
        change = item.get("change", UNSAID_CHANGE)
        if not isinstance(change, str):
            raise ValueError(f"not a kind of change: {change!r}")
        return TaskChanged(change, task)
    if kind == "agent.updated":
        return AgentUpdated(converter.structure(data, Agent))
    if kind == ScheduleChanged.kind:
        change = ScheduleChange(item["change"])
        return ScheduleChanged(change, converter.structure(data, Schedule))
    raise ValueError(f"unknown event {kind!r}")


UNSAID_CHANGE: Final = "updated"  # an event of a replica that did not say (an older version)


def _older_change(task: Task) -> ChangeKind:
    """What made an announced task pending, for an outbox row written before announcements
    said so: its first revision is its dispatch, any later one its next attempt."""
    return ChangeKind.DISPATCHED if task.revision == 1 else ChangeKind.RETRIED


def decode_event(body: bytes) -> Event:
    """Parse one encoded event; raises MalformedMessage for anything that is not one."""
    events = decode_events(body)
    if len(events) != 1:
        raise MalformedMessage(f"expected one event, got {len(events)}")
    return events[0]
