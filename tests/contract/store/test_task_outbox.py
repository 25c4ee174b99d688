"""Contract of TaskRepository's outbox relay, over the in-memory twin and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from chiffon.changes import dispatched
from chiffon.model import OutboxMessage, TaskStatus
from ports.bus import PartiallyPublished
from ports.task_repository import TaskRepository
from tests.contract.store.builders import at, cancel_message, make_task, work_message


class Recorder:
    """A publish callable that records batches, optionally slowly or failing."""

    def __init__(self, delay_s: float = 0.0, error: Exception | None = None) -> None:
        self.batches: list[list[OutboxMessage]] = []
        self.delay_s = delay_s
        self.error = error

    async def __call__(self, batch: Sequence[OutboxMessage]) -> None:
        await asyncio.sleep(self.delay_s)
        if self.error is not None:
            raise self.error
        self.batches.append(list(batch))

    @property
    def sent(self) -> list[OutboxMessage]:
        return [m for batch in self.batches for m in batch]


async def enqueue_five(repo: TaskRepository) -> list[OutboxMessage]:
    task = make_task()
    first = work_message(task, 0)
    await repo.create(task, dispatched(task), [first])
    rest = [cancel_message(task.task_id, s) for s in (1, 2, 3, 4)]
    await repo.enqueue(rest[:2])
    await repo.enqueue(rest[2:])
    return [first, *rest]


async def test_relay_publishes_oldest_first_and_marks_sent(repo: TaskRepository) -> None:
    messages = await enqueue_five(repo)
    publish = Recorder()
    assert await repo.relay_outbox(publish, 3) == 3
    assert await repo.relay_outbox(publish, 3) == 2
    assert await repo.relay_outbox(publish, 3) == 0
    assert publish.batches == [messages[:3], messages[3:]]


@pytest.mark.parametrize("error", [RuntimeError("broker said no"), ConnectionResetError("amqp")])
async def test_failed_publish_leaves_rows_unsent_and_raises(
    repo: TaskRepository, error: Exception
) -> None:
    messages = await enqueue_five(repo)
    with pytest.raises(type(error)) as raised:
        await repo.relay_outbox(Recorder(error=error), 10)
    assert raised.value is error  # the publisher's own error, not a translated one
    publish = Recorder()
    assert await repo.relay_outbox(publish, 10) == 5
    assert publish.sent == messages


@pytest.mark.parametrize("limit", [3, 10])
async def test_concurrent_relays_never_publish_a_message_twice(
    repo: TaskRepository, limit: int
) -> None:
    messages = await enqueue_five(repo)
    one, two = Recorder(delay_s=0.2), Recorder(delay_s=0.2)
    counts = await asyncio.gather(repo.relay_outbox(one, limit), repo.relay_outbox(two, limit))
    ids = [m.message_id for m in one.sent + two.sent]
    assert len(ids) == len(set(ids)) == sum(counts)
    rest = Recorder()
    while await repo.relay_outbox(rest, limit):
        pass
    every = [m.message_id for m in one.sent + two.sent + rest.sent]
    assert sorted(every) == sorted(m.message_id for m in messages)


async def test_a_message_enqueued_twice_is_published_once(repo: TaskRepository) -> None:
    message = cancel_message(make_task().task_id)
    await repo.enqueue([message])
    await repo.enqueue([message])
    publish = Recorder()
    while await repo.relay_outbox(publish, 10):
        pass
    assert publish.sent == [message]


async def test_a_partly_confirmed_batch_keeps_what_got_out(repo: TaskRepository) -> None:
    messages = await enqueue_five(repo)
    got_out = frozenset(m.message_id for m in messages[:3])
    with pytest.raises(PartiallyPublished):
        await repo.relay_outbox(Recorder(error=PartiallyPublished("2 lost", got_out)), 10)
    again = Recorder()
    assert await repo.relay_outbox(again, 10) == 2
    assert [m.message_id for m in again.sent] == [m.message_id for m in messages[3:]]


async def test_the_sweep_takes_only_stale_rows_and_mark_sent_is_final(
    repo: TaskRepository,
) -> None:
    messages = await enqueue_five(repo)  # created at 0..4 s
    publish = Recorder()
    assert await repo.relay_outbox(publish, 10, created_before=at(2)) == 2
    assert [m.message_id for m in publish.sent] == [m.message_id for m in messages[:2]]
    await repo.mark_sent([messages[2].message_id, messages[3].message_id])
    await repo.mark_sent([messages[2].message_id])  # again: harmless
    rest = Recorder()
    assert await repo.relay_outbox(rest, 10) == 1
    assert [m.message_id for m in rest.sent] == [messages[4].message_id]


async def test_counts_give_every_status_and_the_unsent_backlog(repo: TaskRepository) -> None:
    empty = await repo.counts()
    assert empty.tasks_by_status == dict.fromkeys(TaskStatus, 0) and empty.outbox_unsent == 0
    await repo.create(make_task(0), dispatched(make_task(0)), [])
    await repo.create(
        make_task(1, status=TaskStatus.RUNNING),
        dispatched(make_task(1, status=TaskStatus.RUNNING)),
        [],
    )
    await repo.create(
        make_task(2, status=TaskStatus.RUNNING),
        dispatched(make_task(2, status=TaskStatus.RUNNING)),
        [],
    )
    messages = await enqueue_five(repo)
    await repo.mark_sent([messages[0].message_id])
    counts = await repo.counts()
    assert counts.tasks_by_status[TaskStatus.PENDING] == 2  # one from enqueue_five
    assert counts.tasks_by_status[TaskStatus.RUNNING] == 2
    assert counts.tasks_by_status[TaskStatus.FAILED] == 0
    assert counts.outbox_unsent == 4
