"""The bus contract (ports/bus.py), over the in-memory broker and RabbitMQ."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import pytest

from adapters.codec import encode_message
from chiffon.model import Cancel, Heartbeat, StatusUpdate, WorkResult
from tests.contract.bus.helpers import (
    Inbox,
    Worker,
    eventually,
    heartbeat,
    nothing_more,
    outbox,
    request,
    result,
    status,
)
from tests.contract.bus.worlds import BusWorld


async def test_work_is_delivered_highest_priority_first(world: BusWorld) -> None:
    orchestrator = await world.work_bus()
    priorities = [1, 3, 5, 2, 4, 5, 1, 3]
    await orchestrator.publish([outbox(request(priority=p)) for p in priorities])
    agent, worker = await world.agent_bus(), Worker()
    await agent.consume("alpha", 1, worker.on_work, worker.on_cancel)
    got = []
    for _ in priorities:
        delivery = await worker.next()
        got.append(delivery.request.priority)
        await delivery.ack()
    assert got == sorted(priorities, reverse=True)


@pytest.mark.parametrize("how", ["close", "kill"])
async def test_unacked_work_is_redelivered_to_another_agent(world: BusWorld, how: str) -> None:
    orchestrator = await world.work_bus()
    sent = request()
    await orchestrator.publish([outbox(sent)])
    first, first_worker = await world.agent_bus(), Worker()
    await first.consume("alpha", 1, first_worker.on_work, first_worker.on_cancel)
    held = await first_worker.next()
    assert held.request == sent
    assert not held.redelivered
    await (first.close() if how == "close" else world.kill(first))
    second, second_worker = await world.agent_bus(), Worker()
    await second.consume("alpha", 1, second_worker.on_work, second_worker.on_cancel)
    again = await second_worker.next()
    assert again.request == sent
    assert again.redelivered
    await again.ack()
    await held.ack()  # from a dead channel: ignored, no crash


async def test_prefetch_is_respected(world: BusWorld) -> None:
    orchestrator = await world.work_bus()
    await orchestrator.publish([outbox(request()) for _ in range(5)])
    agent, worker = await world.agent_bus(), Worker()
    await agent.consume("alpha", 2, worker.on_work, worker.on_cancel)
    held = [await worker.next(), await worker.next()]
    assert await nothing_more(worker)
    await held[0].ack()
    held.append(await worker.next())
    assert await nothing_more(worker)
    for delivery in held[1:]:
        await delivery.ack()


async def test_stop_consuming_keeps_held_work(world: BusWorld) -> None:
    orchestrator = await world.work_bus()
    await orchestrator.publish([outbox(request()) for _ in range(3)])
    agent, worker = await world.agent_bus(), Worker()
    await agent.consume("alpha", 1, worker.on_work, worker.on_cancel)
    held = await worker.next()
    await agent.stop_consuming()
    await held.reject(requeue=True)  # still ours to settle after the consumer stopped
    assert await nothing_more(worker)
    other, other_worker = await world.agent_bus(), Worker()
    await other.consume("alpha", 5, other_worker.on_work, other_worker.on_cancel)
    got = {(await other_worker.next()).request.task_id for _ in range(3)}
    assert held.request.task_id in got


async def test_malformed_work_is_dead_lettered_and_the_agent_keeps_working(
    world: BusWorld,
) -> None:
    agent, worker = await world.agent_bus(), Worker()
    await agent.consume("alpha", 1, worker.on_work, worker.on_cancel)
    await world.put_work("alpha", b"not json at all")
    await world.put_work("alpha", encode_message(Cancel(uuid4())))  # a valid, wrong kind
    orchestrator = await world.work_bus()
    sent = request()
    await orchestrator.publish([outbox(sent)])
    delivery = await worker.next()
    assert delivery.request == sent
    await delivery.ack()
    dead: list[bytes] = []

    async def dead_letters() -> bool:
        dead[:] = await world.dead_letters()
        return len(dead) >= 2

    await eventually(dead_letters)
    assert dead[0] == b"not json at all"


async def test_work_rejected_without_requeue_is_dead_lettered(world: BusWorld) -> None:
    orchestrator = await world.work_bus()
    sent = request()
    await orchestrator.publish([outbox(sent)])
    agent, worker = await world.agent_bus(), Worker()
    await agent.consume("alpha", 1, worker.on_work, worker.on_cancel)
    await (await worker.next()).reject(requeue=False)

    async def dead() -> bool:
        return any(str(sent.task_id).encode() in body for body in await world.dead_letters())

    await eventually(dead)


async def test_malformed_agent_message_is_dead_lettered_and_consumer_keeps_going(
    world: BusWorld,
) -> None:
    orchestrator, inbox = await world.work_bus(), Inbox()
    await orchestrator.consume_agent_messages(inbox.handle)
    await world.put_result(b"{broken")
    await world.put_result(encode_message(request()))  # work on the results queue
    agent_id = uuid4()
    agent = await world.agent_bus(agent_id)
    await agent.publish(status(agent_id, uuid4(), 0))
    assert len(await inbox.wait_done(1)) == 1

    async def dead() -> bool:
        return len(await world.dead_letters()) >= 2

    await eventually(dead)
    assert (await world.dead_letters())[0] == b"{broken"


async def test_agent_messages_reach_the_orchestrator_in_order_per_agent(world: BusWorld) -> None:
    orchestrator, inbox = await world.work_bus(), Inbox()
    await orchestrator.consume_agent_messages(inbox.handle)
    agents = [(uuid4(), request()) for _ in range(2)]
    buses = [await world.agent_bus(agent_id) for agent_id, _ in agents]
    sent: list[StatusUpdate | WorkResult | Heartbeat] = []

    async def report(i: int) -> None:
        agent_id, req = agents[i]
        for n in range(10):
            for message in (status(agent_id, req.task_id, n * 10), heartbeat(agent_id, n)):
                sent.append(message)
                await buses[i].publish(message)
        sent.append(result(agent_id, req))
        await buses[i].publish(sent[-1])

    await asyncio.gather(report(0), report(1))
    await inbox.wait_done(len(sent))
    for agent_id, _ in agents:
        for kind in (Heartbeat, (StatusUpdate, WorkResult)):
            expected = [m for m in sent if m.agent_id == agent_id and isinstance(m, kind)]
            got = [m for m in inbox.started if m.agent_id == agent_id and isinstance(m, kind)]
            assert got == expected


async def test_reports_in_flight_together_arrive_in_the_order_they_were_sent(
    world: BusWorld,
) -> None:
    """An agent starts its handler while `running` is still being confirmed (ADR 0006): a
    report sent before the previous one is confirmed must still arrive after it."""
    orchestrator, inbox = await world.work_bus(), Inbox()
    await orchestrator.consume_agent_messages(inbox.handle)
    agent_id = uuid4()
    bus = await world.agent_bus(agent_id)
    sent: list[StatusUpdate | WorkResult] = []
    in_flight = []
    for _ in range(50):
        req = request()
        for message in (status(agent_id, req.task_id, 0), result(agent_id, req)):
            sent.append(message)
            in_flight.append(asyncio.ensure_future(bus.publish(message)))
        await asyncio.sleep(0)  # the next pair goes out while these are being confirmed
    await asyncio.gather(*in_flight)
    await inbox.wait_done(len(sent))
    assert inbox.started == sent


async def test_duplicate_results_are_both_delivered(world: BusWorld) -> None:
    orchestrator, inbox = await world.work_bus(), Inbox()
    await orchestrator.consume_agent_messages(inbox.handle)
    agent_id = uuid4()
    agent = await world.agent_bus(agent_id)
    done = result(agent_id, request())
    await agent.publish(done)
    await agent.publish(done)
    assert await inbox.wait_done(2) == [done, done]


async def test_cancel_reaches_every_agent(world: BusWorld) -> None:
    workers = [Worker() for _ in range(3)]
    for worker, agent_type in zip(workers, ["alpha", "alpha", "beta"], strict=True):
        bus = await world.agent_bus()
        await bus.consume(agent_type, 1, worker.on_work, worker.on_cancel)
    orchestrator = await world.work_bus()
    cancel = Cancel(uuid4(), "the caller changed their mind")
    await orchestrator.publish([outbox(cancel)])
    for worker in workers:
        assert await worker.next_cancel() == cancel


async def test_a_handler_that_raises_gets_the_message_again(world: BusWorld) -> None:
    orchestrator, inbox = await world.work_bus(), Inbox(fail_first=2)
    await orchestrator.consume_agent_messages(inbox.handle)
    agent_id = uuid4()
    agent = await world.agent_bus(agent_id)
    beat = heartbeat(agent_id, 1)
    await agent.publish(beat)
    assert await inbox.wait_done(1) == [beat]
    assert inbox.started == [beat, beat, beat]
