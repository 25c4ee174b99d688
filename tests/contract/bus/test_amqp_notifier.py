"""RabbitMQ only: events fan out to every orchestrator replica, in order."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from uuid import uuid4

import aiormq.abc
import attrs
import pytest
from pamqp.commands import Basic

from adapters.amqp.connection import AmqpConnection
from adapters.amqp.notifier import SIGNATURE, AmqpNotifier
from adapters.amqp.topology import Topology
from adapters.amqp.work_bus import AmqpWorkBus
from adapters.codec import decode_event, decode_events, decode_message, encode_event
from chiffon.credentials import ReplicaKey
from chiffon.events import AgentUpdated, Event, TaskChanged
from chiffon.model import Agent, AgentStatus, Task, TaskStatus
from tests.amqp_fixtures import ConnectionFactory
from tests.contract.bus.helpers import outbox, request, wait_until

pytestmark = [pytest.mark.amqp, pytest.mark.usefixtures("amqp_cleanup")]

KEY = ReplicaKey(b"the replicas' key in these tests")


def task(percent: int = 0) -> Task:
    now = datetime.now(UTC)
    return Task(
        task_id=uuid4(),
        request_id=uuid4(),
        trace_id=uuid4(),
        work_type="echo",
        agent_type="demo",
        priority=3,
        parameters={"text": "hi", "nested": [1, {"a": None}]},
        status=TaskStatus.RUNNING,
        created_at=now,
        updated_at=now,
        progress_percent=percent,
        result={"any": ["json"]},
    )


def agent() -> Agent:
    return Agent(
        agent_id=uuid4(),
        agent_type="demo",
        status=AgentStatus.BUSY,
        capabilities=("echo", "sleep"),
        max_concurrency=2,
        running_tasks=(uuid4(),),
        resources={"cpu_percent": 12.5},
        last_heartbeat_at=datetime.now(UTC),
    )


def test_events_round_trip_through_the_codec() -> None:
    for event in (TaskChanged("progress", task(40)), AgentUpdated(agent())):
        assert decode_event(encode_event(event)) == event


async def test_every_replica_hears_every_event_in_order(
    amqp_connect: ConnectionFactory, namespace: str
) -> None:
    replicas = [
        AmqpNotifier(await amqp_connect(f"replica-{i}"), namespace, key=KEY) for i in range(2)
    ]
    heard: list[list[Event]] = [[], []]
    for replica, events in zip(replicas, heard, strict=True):
        await replica.start()
        replica.subscribe(events.append)
    one_task = task()
    sent: list[Event] = [
        TaskChanged("progress", attrs.evolve(one_task, progress_percent=p))
        for p in range(0, 100, 10)
    ]
    sent.append(AgentUpdated(agent()))
    for event in sent[:5]:
        await replicas[0].publish(event)
    for event in sent[5:]:
        await replicas[1].publish(event)
    await wait_until(lambda: all(len(events) == len(sent) for events in heard))
    # A replica hears its own events at once and the other's through the broker: each
    # publisher's events arrive in its order, everything arrives exactly once.
    for events in heard:
        assert [e for e in events if e in sent[:5]] == sent[:5]
        assert [e for e in events if e in sent[5:]] == sent[5:]
        assert len(events) == len(sent)
    for replica in replicas:
        await replica.close()


async def test_unsubscribed_listeners_hear_nothing_more(
    amqp_connect: ConnectionFactory, namespace: str
) -> None:
    replica = AmqpNotifier(await amqp_connect("replica"), namespace, key=KEY)
    await replica.start()
    kept: list[Event] = []
    dropped: list[Event] = []
    replica.subscribe(kept.append)
    unsubscribe = replica.subscribe(dropped.append)
    unsubscribe()
    await replica.publish(TaskChanged("progress", task()))
    await wait_until(lambda: len(kept) == 1)
    assert dropped == []
    await replica.close()


async def test_a_broker_outage_does_not_fail_the_publisher() -> None:
    nowhere = AmqpConnection("amqp://guest:guest@127.0.0.1:1/", "nowhere")
    await nowhere.start()
    try:
        notifier = AmqpNotifier(nowhere, "unused", key=KEY)
        await notifier.start()
        await notifier.publish(TaskChanged("progress", task()))  # logged, not raised
    finally:
        await nowhere.close()


async def test_an_announcement_is_routed_before_the_work_published_after_its_flush(
    amqp_connect: ConnectionFactory, namespace: str, amqp_cleanup: list[str]
) -> None:
    """The relay flushes a task's announcement, then publishes its work without waiting for
    the announcement's confirm: sharing one channel must still route the event first. A probe
    queue bound to both exchanges sees the broker's routing order."""
    amqp_cleanup.append("probe")
    conn = await amqp_connect("orchestrator")
    bus = AmqpWorkBus(conn, namespace)
    notifier = AmqpNotifier(conn, namespace, publisher=bus.publisher, key=KEY)
    await notifier.start()
    topology = Topology(namespace)
    probe_conn = await amqp_connect("probe")
    ch = await probe_conn.channel(publisher_confirms=False)
    await topology.declare_base(ch)
    probe = (await ch.queue_declare("", exclusive=True, auto_delete=True)).queue
    assert probe is not None
    await ch.queue_bind(probe, topology.notify_exchange, routing_key="")
    await ch.queue_bind(probe, topology.work_exchange, routing_key="probe")
    heard: list[str] = []

    async def on_message(message: aiormq.abc.DeliveredMessage) -> None:
        if message.exchange == topology.notify_exchange:
            for event in decode_events(message.body):
                assert isinstance(event, TaskChanged)
                heard.append(f"event {event.task.task_id}")
        else:
            heard.append(f"work {decode_message(message.body).task_id}")  # type: ignore[union-attr]

    await ch.basic_consume(probe, on_message, no_ack=True)
    works = [request(agent_type="probe") for _ in range(40)]
    in_flight = []
    for work in works:
        await notifier.publish(TaskChanged("progress", attrs.evolve(task(), task_id=work.task_id)))
        await notifier.flush()
        in_flight.append(asyncio.ensure_future(bus.publish([outbox(work)])))
    await asyncio.gather(*in_flight)
    await wait_until(lambda: len(heard) == 2 * len(works))
    for work in works:
        assert heard.index(f"event {work.task_id}") < heard.index(f"work {work.task_id}")
    await notifier.close()
    await bus.close()


async def test_a_notify_frame_not_signed_by_a_replica_reaches_nobody(
    amqp_connect: ConnectionFactory, namespace: str
) -> None:
    """The agents' login may reach the notify exchange (a misconfigured broker): a frame is
    heard only when signed with the replicas' key, and only up to the size bound."""
    replica = AmqpNotifier(await amqp_connect("replica"), namespace, key=KEY, max_bytes=64_000)
    await replica.start()
    heard: list[Event] = []
    replica.subscribe(heard.append)
    counted: list[str] = []
    replica.on_refused = counted.append
    ch = await (await amqp_connect("forger")).channel(publisher_confirms=True)
    topology = Topology(namespace)
    fake = attrs.evolve(task(), status=TaskStatus.COMPLETED, revision=99)
    body = encode_event(TaskChanged("progress", fake))
    other_key = ReplicaKey(b"not the replicas' key, but long")
    forged = [
        (body, {}),
        (body, {SIGNATURE: "x" * 43}),
        (body, {SIGNATURE: other_key.sign(body)}),
        (body + b" ", {SIGNATURE: KEY.sign(body)}),  # a signature of another body
    ]
    big = encode_event(TaskChanged("progress", attrs.evolve(fake, output="x" * 70_000)))
    forged.append((big, {SIGNATURE: KEY.sign(big)}))  # signed, but over the size bound
    genuine = attrs.evolve(fake, revision=100)
    signed = encode_event(TaskChanged("progress", genuine))
    for raw, headers in [*forged, (signed, {SIGNATURE: KEY.sign(signed)})]:
        props = Basic.Properties(headers=headers or None)
        await ch.basic_publish(raw, exchange=topology.notify_exchange, properties=props)
    await wait_until(lambda: len(heard) == 1)
    assert heard == [TaskChanged("progress", genuine)] and replica.refused == len(forged)
    assert counted == ["notify_not_signed"] * 4 + ["notify_too_large"]
    await replica.close()
