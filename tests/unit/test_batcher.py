"""The batcher that the group commit of dispatches and the batch of reports share: callers
queued while a write is in flight go together in the next write, each with its own answer,
and one bad item fails alone."""

from __future__ import annotations

import asyncio

import pytest

from adapters.postgres.batcher import Batcher


class Outage(Exception):
    pass


class Store:
    """A `write` that records each call, answers each item with its double, refuses "bad"
    items (the whole write fails), and can be held in flight until released."""

    def __init__(self) -> None:
        self.writes: list[list[object]] = []
        self.hold = asyncio.Event()
        self.hold.set()
        self.entered = asyncio.Event()
        self.outage = False

    async def write(self, items: list[object]) -> list[object]:
        self.writes.append(list(items))
        self.entered.set()
        await self.hold.wait()
        if self.outage:
            raise Outage("store unreachable")
        if "bad" in items:
            raise ValueError("a value the store refuses")
        return [f"{item}{item}" for item in items]


async def held_first(batcher: Batcher[object, object], store: Store) -> asyncio.Task[object]:
    """Submit "first" and wait until its write is in flight (and held)."""
    store.hold.clear()
    first = asyncio.create_task(batcher.submit("first"))
    await store.entered.wait()
    return first


async def test_a_lone_item_is_written_at_once_and_alone() -> None:
    store = Store()
    batcher: Batcher[object, object] = Batcher(store.write)
    assert await batcher.submit("a") == "aa"
    assert store.writes == [["a"]]


async def test_items_queued_during_a_write_share_the_next_write_each_with_its_answer() -> None:
    store = Store()
    batcher: Batcher[object, object] = Batcher(store.write)
    first = await held_first(batcher, store)
    rest = [asyncio.create_task(batcher.submit(x)) for x in ("b", "c", "d")]
    await asyncio.sleep(0)  # let them queue
    store.hold.set()
    assert await first == "firstfirst"
    assert [await t for t in rest] == ["bb", "cc", "dd"]
    assert store.writes == [["first"], ["b", "c", "d"]]


async def test_a_batch_takes_at_most_max_batch_items() -> None:
    store = Store()
    batcher: Batcher[object, object] = Batcher(store.write, max_batch=2)
    first = await held_first(batcher, store)
    rest = [asyncio.create_task(batcher.submit(x)) for x in ("b", "c", "d")]
    await asyncio.sleep(0)
    store.hold.set()
    await asyncio.gather(first, *rest)
    assert store.writes == [["first"], ["b", "c"], ["d"]]


async def test_items_of_different_groups_are_written_apart_in_order() -> None:
    store = Store()
    batcher: Batcher[object, object] = Batcher(store.write, group=lambda item: len(str(item)))
    first = await held_first(batcher, store)
    rest = [asyncio.create_task(batcher.submit(x)) for x in ("b", "cc", "d", "ee")]
    await asyncio.sleep(0)
    store.hold.set()
    assert [await t for t in [first, *rest]] == ["firstfirst", "bb", "cccc", "dd", "eeee"]
    assert store.writes == [["first"], ["b", "d"], ["cc", "ee"]]


async def test_a_bad_item_fails_alone_the_others_are_written_one_by_one() -> None:
    store = Store()
    batcher: Batcher[object, object] = Batcher(store.write)
    first = await held_first(batcher, store)
    rest = [asyncio.create_task(batcher.submit(x)) for x in ("b", "bad", "d")]
    await asyncio.sleep(0)
    store.hold.set()
    await first
    answers = await asyncio.gather(*rest, return_exceptions=True)
    assert answers[0] == "bb" and answers[2] == "dd"
    assert isinstance(answers[1], ValueError)
    assert store.writes == [["first"], ["b", "bad", "d"], ["b"], ["bad"], ["d"]]


async def test_an_outage_fails_every_item_of_the_write_without_retrying_each() -> None:
    store = Store()
    batcher: Batcher[object, object] = Batcher(store.write, fails_all=(Outage,))
    first = await held_first(batcher, store)
    rest = [asyncio.create_task(batcher.submit(x)) for x in ("b", "c")]
    await asyncio.sleep(0)
    store.outage = True
    store.hold.set()
    answers = await asyncio.gather(first, *rest, return_exceptions=True)
    assert all(isinstance(a, Outage) for a in answers)
    assert store.writes == [["first"], ["b", "c"]]


async def test_a_caller_that_went_away_does_not_stop_the_others_answers() -> None:
    store = Store()
    batcher: Batcher[object, object] = Batcher(store.write)
    first = await held_first(batcher, store)
    gone = asyncio.create_task(batcher.submit("b"))
    stays = asyncio.create_task(batcher.submit("c"))
    await asyncio.sleep(0)
    gone.cancel()
    store.hold.set()
    assert await first == "firstfirst" and await stays == "cc"
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert store.writes == [["first"], ["b", "c"]]


async def test_a_write_that_answers_the_wrong_count_fails_its_callers_instead_of_hanging() -> None:
    async def short(items: list[object]) -> list[object]:
        return items[1:]

    batcher: Batcher[object, object] = Batcher(short)
    with pytest.raises(RuntimeError, match="0 answers for 1 items"):
        await batcher.submit("a")
