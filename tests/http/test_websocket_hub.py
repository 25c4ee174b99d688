"""WebSocketHub and Connection on their own: ordering, buffering around snapshots, eviction."""

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import attrs
import pytest
from aiohttp import WSMsgType

from adapters.http.edge_errors import TooManyConnections
from adapters.http.websocket_hub import WebSocketHub
from adapters.http.ws_connection import Connection
from adapters.http.ws_limits import WsLimits
from adapters.http.ws_protocol import OutEvent, Subscription
from adapters.http.ws_snapshot import Snapshot, is_covered
from adapters.memory.notifier import InMemoryNotifier
from chiffon.events import AgentUpdated, TaskChanged
from chiffon.model import Agent, AgentStatus, Task, TaskStatus

T0 = datetime(2024, 1, 1, tzinfo=UTC)
TASKS = Subscription("topic", "tasks")


class Sink:
    """Records frames; `blocked` makes sending wait forever, like a peer that never reads."""

    def __init__(self, blocked: bool = False) -> None:
        self.frames: list[dict[str, Any]] = []
        self.closed: tuple[int, bytes] | None = None
        self.blocked = blocked
        self.changed = asyncio.Event()

    async def send_frame(
        self, message: bytes, opcode: WSMsgType, compress: int | None = None
    ) -> None:
        assert opcode is WSMsgType.TEXT
        if self.blocked:
            await asyncio.Event().wait()
        self.frames.append(json.loads(message))
        self.changed.set()

    async def close(self, *, code: int, message: bytes) -> bool:
        self.closed = (code, message)
        return True


def task(task_id: UUID, status: TaskStatus, second: int, progress: int | None = None) -> Task:
    return Task(
        task_id=task_id,
        request_id=task_id,
        trace_id=task_id,
        work_type="echo",
        agent_type="demo",
        priority=3,
        parameters={},
        status=status,
        created_at=T0,
        updated_at=T0 + timedelta(seconds=second),
        revision=second + 1,  # later changes have higher revisions
        progress_percent=progress,
    )


def out(t: Task) -> OutEvent:
    return OutEvent(TaskChanged("progress", t))


async def drained(sink: Sink, count: int) -> list[dict[str, Any]]:
    async with asyncio.timeout(2):
        while len(sink.frames) < count:
            sink.changed.clear()
            await sink.changed.wait()
    return sink.frames


def summary(frames: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """(event, seq, status) of each frame; for a snapshot, the statuses in it."""
    return [
        (f["event"], [t["status"] for t in f["data"]])
        if f["event"] == "snapshot"
        else (f["event"], f["seq"], f["data"]["status"])
        for f in frames
    ]


async def test_events_met_while_reading_the_snapshot_follow_it_unless_it_covers_them() -> None:
    a, b = uuid4(), uuid4()
    sink = Sink()
    conn = Connection(sink, WsLimits(queue_frames=10))
    conn.start()
    conn.begin(TASKS)
    conn.offer(out(task(a, TaskStatus.PENDING, 1)))  # older than the snapshot copy: skipped
    conn.offer(out(task(a, TaskStatus.RUNNING, 2)))  # same as the snapshot copy: skipped
    conn.offer(out(task(b, TaskStatus.PENDING, 3)))  # not in the snapshot: sent
    conn.offer(out(task(a, TaskStatus.COMPLETED, 4)))  # newer than the snapshot copy: sent
    conn.complete(Snapshot((task(a, TaskStatus.RUNNING, 2),)))
    conn.offer(out(task(b, TaskStatus.CANCELLED, 5)))
    frames = await drained(sink, 4)
    assert summary(frames) == [
        ("snapshot", ["running"]),
        ("task.updated", 1, "pending"),
        ("task.updated", 2, "completed"),
        ("task.updated", 3, "cancelled"),
    ]
    await conn.stop()


async def test_the_revision_alone_says_which_copy_is_newer() -> None:
    a = uuid4()
    snap = task(a, TaskStatus.RUNNING, 1, progress=50)  # revision 2
    older_looking = attrs.evolve(snap, revision=3, updated_at=T0, status=TaskStatus.PENDING)
    assert not is_covered(older_looking, snap)  # revision 3 > 2, whatever else it says
    assert is_covered(attrs.evolve(snap, progress_percent=90), snap)  # same revision
    assert is_covered(attrs.evolve(snap, revision=1), snap)


async def test_agents_are_covered_only_by_an_identical_or_newer_copy() -> None:
    agent = Agent(uuid4(), "demo", AgentStatus.ONLINE, (), 1, (), {}, T0)
    offline = attrs.evolve(agent, status=AgentStatus.OFFLINE)
    assert is_covered(agent, agent) and not is_covered(offline, agent)
    assert is_covered(agent, attrs.evolve(agent, last_heartbeat_at=T0 + timedelta(seconds=1)))


async def test_a_snapshot_is_never_older_than_an_event_already_pushed() -> None:
    a = uuid4()
    sink = Sink()
    conn = Connection(sink, WsLimits(queue_frames=10))
    conn.start()
    conn.begin(TASKS)
    conn.complete(Snapshot(()))
    conn.begin(Subscription("task_id", a))
    conn.offer(out(task(a, TaskStatus.RUNNING, 2)))  # pushed through the topic subscription
    conn.complete(Snapshot((task(a, TaskStatus.PENDING, 1),)))  # read before that change
    conn.offer(out(task(a, TaskStatus.COMPLETED, 3)))  # matches both: sent once
    frames = await drained(sink, 4)
    assert summary(frames) == [
        ("snapshot", []),
        ("task.updated", 1, "running"),
        ("snapshot", ["running"]),
        ("task.updated", 2, "completed"),
    ]
    await conn.stop()


async def test_a_change_older_than_one_already_pushed_is_dropped() -> None:
    """Two replicas' changes of one task can cross on the way (a sweeper's waiting reason
    and an agent's `running`): the client never sees the task go backwards, and a resume
    that asks for older revisions still gets them."""
    a, b = uuid4(), uuid4()
    sink = Sink()
    conn = Connection(sink, WsLimits(queue_frames=20))
    conn.start()
    conn.begin(TASKS)
    conn.complete(Snapshot((task(b, TaskStatus.RUNNING, 5),)))
    conn.offer(out(task(a, TaskStatus.PENDING, 0)))
    conn.offer(out(task(a, TaskStatus.RUNNING, 2)))
    conn.offer(out(task(a, TaskStatus.PENDING, 1)))  # arrived late: older than running
    conn.offer(out(task(b, TaskStatus.PENDING, 4)))  # older than the snapshot's copy
    conn.offer(out(task(a, TaskStatus.COMPLETED, 3)))
    frames = await drained(sink, 4)
    assert summary(frames) == [
        ("snapshot", ["running"]),
        ("task.updated", 1, "pending"),
        ("task.updated", 2, "running"),
        ("task.updated", 3, "completed"),
    ]
    conn.unsubscribe(TASKS)
    conn.begin(Subscription("task_id", a))
    missed = [task(a, TaskStatus.RUNNING, 2), task(a, TaskStatus.COMPLETED, 3)]
    conn.resume([TaskChanged("progress", t) for t in missed], seen=2)
    frames = await drained(sink, 6)
    assert summary(frames[4:]) == [
        ("task.updated", 4, "running"),
        ("task.updated", 5, "completed"),
    ]
    await conn.stop()


async def test_a_failed_snapshot_forgets_what_was_buffered() -> None:
    sink = Sink()
    conn = Connection(sink, WsLimits(queue_frames=10))
    conn.start()
    conn.begin(Subscription("task_id", uuid4()))
    conn.offer(out(task(uuid4(), TaskStatus.PENDING, 1)))
    conn.abort()
    conn.complete(Snapshot(()))
    assert conn.subscriptions == []
    await asyncio.sleep(0.01)
    assert sink.frames == []
    await conn.stop()


async def test_a_full_queue_closes_that_client_with_1013_and_no_other() -> None:
    notifier = InMemoryNotifier()
    hub = WebSocketHub(notifier, WsLimits(queue_frames=3))
    hub.start()
    hub.start()  # idempotent: the hub listens once
    slow, fast = Sink(blocked=True), Sink()
    slow_conn, fast_conn = hub.connect(slow), hub.connect(fast)
    for conn in (slow_conn, fast_conn):
        conn.begin(TASKS)
        conn.complete(Snapshot(()))
    a = uuid4()
    for second in range(6):
        notifier.deliver(
            TaskChanged("progress", task(a, TaskStatus.RUNNING, second, progress=second))
        )
        await asyncio.sleep(0)  # the fast writer keeps up; the slow one is stuck
    frames = await drained(fast, 7)
    assert [f.get("seq") for f in frames] == [None, 1, 2, 3, 4, 5, 6]
    assert await close_code(slow) == 1013 and slow_conn.closing
    assert fast.closed is None
    notifier.deliver(TaskChanged("progress", task(a, TaskStatus.COMPLETED, 9)))
    assert (await drained(fast, 8))[-1]["seq"] == 7
    await hub.close_all()
    assert fast.closed is not None and fast.closed[0] == 1001
    hub.stop()
    notifier.deliver(TaskChanged("progress", task(a, TaskStatus.COMPLETED, 10)))
    for conn in hub.connections:
        await hub.disconnect(conn)
    assert hub.connections == []


async def test_the_hub_subscribes_once_and_unsubscribes_on_stop() -> None:
    notifier = InMemoryNotifier()
    hub = WebSocketHub(notifier)
    hub.start()
    hub.start()
    agent = Agent(uuid4(), "demo", AgentStatus.ONLINE, (), 1, (), {}, T0)
    sink = Sink()
    conn = hub.connect(sink)
    conn.begin(Subscription("topic", "agents"))
    conn.complete(Snapshot((agent,)))
    notifier.deliver(AgentUpdated(attrs.evolve(agent, status=AgentStatus.BUSY)))
    hub.stop()
    notifier.deliver(AgentUpdated(agent))
    frames = await drained(sink, 2)
    await asyncio.sleep(0.01)
    assert [f["event"] for f in frames] == ["snapshot", "agent.updated"]
    await hub.disconnect(conn)


async def close_code(sink: Sink) -> int | None:
    """The code the sink was closed with, once its connection's own task sent the close."""
    for _ in range(500):  # bounded: 5 s on a busy machine
        if sink.closed is not None:
            return int(sink.closed[0])
        await asyncio.sleep(0.01)
    return None


async def test_a_client_is_bounded_in_bytes_not_only_in_frames() -> None:
    limits = WsLimits(queue_frames=1000, queue_bytes=10_000, total_bytes=1_000_000)
    sink = Sink(blocked=True)
    conn = Connection(sink, limits)
    conn.start()
    big = "x" * 3000
    for _ in range(3):
        conn.send(f'{{"pad": "{big}"}}')
    assert not conn.closing and conn.queued_bytes > 9000
    conn.send(f'{{"pad": "{big}"}}')  # a fourth would pass 10,000 bytes
    assert conn.closing and conn.queued_bytes == 0  # freed at once, not when the peer reads
    assert await close_code(sink) == 1013
    await conn.stop()


async def test_the_shared_budget_closes_the_slowest_reader_first() -> None:
    hub = WebSocketHub(InMemoryNotifier(), WsLimits(queue_bytes=50_000, total_bytes=60_000))
    stuck, lagging, fine = Sink(blocked=True), Sink(blocked=True), Sink()
    a, b, c = hub.connect(stuck, "10.0.0.1"), hub.connect(lagging, "10.0.0.2"), hub.connect(fine)
    for _ in range(8):
        a.send('{"pad": "' + "a" * 5000 + '"}')  # ~40 KB waiting
    b.send('{"pad": "' + "b" * 5000 + '"}')  # ~5 KB waiting
    for _ in range(5):
        c.send('{"pad": "' + "c" * 5000 + '"}')  # read at once: never counts for long
        await asyncio.sleep(0)
    b.send('{"pad": "' + "b" * 15_000 + '"}')  # the total would pass 60 KB: `a` is closed
    assert a.closing and not b.closing and not c.closing
    assert hub.queued_bytes == b.queued_bytes < 60_000
    assert len(await drained(fine, 5)) == 5
    for conn in hub.connections:
        await hub.disconnect(conn)
    assert hub.queued_bytes == 0


async def test_connections_per_client_and_per_server_are_limited() -> None:
    hub = WebSocketHub(InMemoryNotifier(), WsLimits(max_connections=3, max_per_client=2))
    for _ in range(2):
        hub.admit("10.0.0.1")
        hub.connect(Sink(), "10.0.0.1")
    with pytest.raises(TooManyConnections, match="this address"):
        hub.admit("10.0.0.1")
    hub.admit("10.0.0.2")
    hub.connect(Sink(), "10.0.0.2")
    with pytest.raises(TooManyConnections, match="the server holds"):
        hub.admit("10.0.0.3")
    await hub.disconnect(hub.connections[0])
    hub.admit("10.0.0.1")  # a place is free again, for that address too
    for conn in hub.connections:
        await hub.disconnect(conn)
