"""BatchedSettler: fewest frames, never a `multiple` ack over a delivery not yet handled."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from aiormq.abc import AbstractChannel, DeliveredMessage

from adapters.amqp.delivery import SINGLES_AFTER, SINGLES_AFTER_S, BatchedSettler


class RecordingChannel:
    """Records the settle frames a channel would send, in order."""

    def __init__(self) -> None:
        self.frames: list[tuple[str, int, bool]] = []

    async def basic_ack(self, tag: int, multiple: bool = False) -> None:
        self.frames.append(("ack", tag, multiple))

    async def basic_nack(self, tag: int, requeue: bool = True) -> None:
        self.frames.append(("requeue" if requeue else "nack", tag, False))

    async def basic_reject(self, tag: int, requeue: bool = False) -> None:
        self.frames.append(("dead", tag, False))


class Message:
    def __init__(self, tag: int) -> None:
        self.delivery_tag = tag


def world(n: int) -> tuple[RecordingChannel, BatchedSettler, list[DeliveredMessage]]:
    ch = RecordingChannel()
    settler = BatchedSettler(cast(AbstractChannel, ch))
    messages = [cast(DeliveredMessage, Message(tag)) for tag in range(1, n + 1)]
    for message in messages:
        settler.received(message)
    return ch, settler, messages


async def settled() -> None:
    for _ in range(5):  # the flush (call_soon), then the writer task
        await asyncio.sleep(0)


async def test_acks_done_together_go_out_as_one_multiple_ack() -> None:
    ch, settler, messages = world(10)
    for message in messages:
        settler.settle(message, "ack")
    await settled()
    assert ch.frames == [("ack", 10, True)]


async def test_a_delivery_still_being_handled_is_never_covered() -> None:
    ch, settler, m = world(5)
    for i in (0, 1, 3):  # tags 1, 2 and 4 done; 3 and 5 still being handled
        settler.settle(m[i], "ack")
    await settled()
    assert ch.frames == [("ack", 2, True)]  # 4 waits for 3
    settler.settle(m[2], "ack")
    await settled()
    assert ch.frames[1:] == [("ack", 4, True)]
    settler.settle(m[4], "ack")
    await settled()
    assert ch.frames[2:] == [("ack", 5, True)]


async def test_done_behind_a_slow_one_is_acked_alone_soon() -> None:
    ch, settler, m = world(3)
    settler.settle(m[1], "ack")  # tag 1 is slow
    await settled()
    assert ch.frames == []
    await asyncio.sleep(SINGLES_AFTER_S * 2)
    assert ch.frames == [("ack", 2, False)]
    settler.settle(m[0], "ack")
    settler.settle(m[2], "ack")
    await settled()
    assert ch.frames[1:] == [("ack", 3, True)]


async def test_many_done_behind_a_slow_one_are_acked_alone_at_once() -> None:
    ch, settler, m = world(SINGLES_AFTER + 1)
    for message in m[1:]:
        settler.settle(message, "ack")
    await settled()
    assert ch.frames == [("ack", tag, False) for tag in range(2, SINGLES_AFTER + 2)]


async def test_requeues_and_rejections_go_out_first_and_alone() -> None:
    ch, settler, m = world(4)
    settler.settle(m[0], "ack")
    settler.settle(m[1], "requeue")
    settler.settle(m[2], "dead")
    settler.settle(m[3], "ack")
    await settled()
    assert ch.frames == [("requeue", 2, False), ("dead", 3, False), ("ack", 4, True)]


async def test_a_second_settle_of_one_delivery_sends_nothing() -> None:
    ch, settler, m = world(2)
    settler.settle(m[1], "ack")
    settler.settle(m[0], "ack")
    await settled()
    settler.settle(m[1], "ack")
    settler.settle(m[1], "requeue")
    await settled()
    assert ch.frames == [("ack", 2, True)]


async def test_a_tag_not_seen_yet_ends_the_run() -> None:
    ch = RecordingChannel()
    settler = BatchedSettler(cast(AbstractChannel, ch))
    first, third = cast(Any, Message(1)), cast(Any, Message(3))
    settler.received(first)
    settler.received(third)  # tag 2 (another consumer on this channel) not handed over yet
    settler.settle(first, "ack")
    settler.settle(third, "ack")
    await settled()
    assert ch.frames == [("ack", 1, True)]  # 3 waits: 2 may be a delivery not handed over yet
