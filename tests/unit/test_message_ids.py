"""Message ids are counted, not drawn (chiffon.messages, adapters.codec): still unique, still
version 4 UUIDs, and two processes (two factories) never share them."""

from __future__ import annotations

from uuid import UUID

from adapters.codec import decode_message, encode_message, strict_json
from adapters.memory.clock import ManualClock, SequentialIds
from adapters.system.clock import RandomIds
from chiffon.credentials import ReplicaKey
from chiffon.messages import OutboxFactory, work_request_for
from chiffon.model import ChangeKind
from tests.contract.store.builders import T0, make_task


def test_outbox_ids_are_unique_version_4_and_differ_between_factories() -> None:
    clock, key = ManualClock(T0), ReplicaKey.random()
    first, second = OutboxFactory(clock, RandomIds(), key), OutboxFactory(clock, RandomIds(), key)
    task = make_task()
    ids = [
        m.message_id for _ in range(2000) for m in first.work_announced(task, ChangeKind.DISPATCHED)
    ]
    ids += [second.announce(task, ChangeKind.DISPATCHED).message_id for _ in range(2000)]
    assert len(set(ids)) == len(ids) == 6000
    assert {i.version for i in ids} == {4}


def test_outbox_ids_follow_the_id_factory_so_a_seeded_run_repeats() -> None:
    clock, key, task = ManualClock(T0), ReplicaKey.random(), make_task()
    runs = [OutboxFactory(clock, SequentialIds(), key) for _ in range(2)]
    said = [[f.announce(task, ChangeKind.DISPATCHED).message_id for _ in range(3)] for f in runs]
    assert said[0] == said[1]


def test_envelope_ids_are_unique_version_4() -> None:
    request = work_request_for(make_task())
    seen = set()
    for _ in range(2000):
        body = encode_message(request, from_agent="orchestrator")
        seen.add(UUID(strict_json.loads(body)["message_id"]))
        assert decode_message(body) == request
    assert len(seen) == 2000
    assert {i.version for i in seen} == {4}
