"""The kind of change travels with announcements (through the outbox) and with events
(between replicas); rows and events written before it did read back as before."""

from __future__ import annotations

import attrs

from adapters.codec import (
    decode_event,
    encode_event,
    outbox_payload_from_json,
    outbox_payload_to_json,
    task_to_json,
)
from chiffon.events import TaskChanged
from chiffon.model import ChangeKind, TaskAnnouncement
from tests.contract.store.builders import make_task


def test_an_announcement_keeps_the_change_that_made_the_task_pending() -> None:
    task = attrs.evolve(make_task(), attempt=2, revision=4)
    told = TaskAnnouncement(task, ChangeKind.TIMED_OUT)
    assert outbox_payload_from_json(outbox_payload_to_json(told)) == told
    older = {"type": "task_announcement", "data": task_to_json(task)}
    assert outbox_payload_from_json(older) == TaskAnnouncement(task, ChangeKind.RETRIED)
    first = {"type": "task_announcement", "data": task_to_json(make_task())}
    decoded = outbox_payload_from_json(first)
    assert isinstance(decoded, TaskAnnouncement) and decoded.change is ChangeKind.DISPATCHED


def test_an_event_keeps_its_kind_of_change_between_replicas() -> None:
    event = TaskChanged(ChangeKind.STARTED, make_task())
    assert decode_event(encode_event(event)) == event
