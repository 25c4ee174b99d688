"""Fair sharing between WebSocket clients: fan-out looks only at the subscriptions an event
matches, and snapshots are shared by address so re-subscribing sockets cannot make another
client wait behind all of their requests. Asserted with counts and order, never time."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from uuid import uuid4

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from adapters.http.websocket_hub import WebSocketHub
from adapters.http.ws_fair_gate import FairGate
from adapters.http.ws_limits import WsLimits
from adapters.http.ws_protocol import Subscription
from adapters.http.ws_routes import WS_HUB
from adapters.http.ws_snapshot import Snapshot
from adapters.memory.notifier import InMemoryNotifier
from chiffon.events import TaskChanged
from chiffon.model import TaskStatus
from tests.http.conftest import Factory
from tests.http.test_websocket_hub import Sink, drained, task


async def test_a_change_is_offered_only_to_the_connections_it_matches() -> None:
    notifier = InMemoryNotifier()
    hub = WebSocketHub(notifier, WsLimits(max_subscriptions=100))
    hub.start()
    bystanders = [hub.connect(Sink()) for _ in range(50)]
    for conn in bystanders:  # 5,000 subscriptions to tasks that never change
        for _ in range(100):
            conn.begin(Subscription("task_id", uuid4()))
            conn.complete(Snapshot(()))
    watcher_sink = Sink()
    watcher = hub.connect(watcher_sink)
    changed = uuid4()
    watcher.begin(Subscription("task_id", changed))
    watcher.complete(Snapshot(()))
    offered: list[object] = []
    for conn in [*bystanders, watcher]:
        original = conn.offer

        def spy(out: Any, conn: Any = conn, original: Any = original) -> None:
            offered.append(conn)
            original(out)

        conn.offer = spy  # type: ignore[method-assign]
    notifier.deliver(TaskChanged("progress", task(changed, TaskStatus.RUNNING, 1)))
    assert offered == [watcher]  # not 51 connections, not 5,001 subscriptions looked at
    await asyncio.sleep(0.01)
    assert [f.get("event") for f in watcher_sink.frames][-1] == "task.updated"
    for conn in [*bystanders, watcher]:
        await hub.disconnect(conn)


async def test_an_unsubscribed_or_closed_connection_leaves_the_index() -> None:
    notifier = InMemoryNotifier()
    hub = WebSocketHub(notifier)
    hub.start()
    sink = Sink()
    conn = hub.connect(sink)
    a = uuid4()
    sub = Subscription("task_id", a)
    conn.begin(sub)
    conn.complete(Snapshot(()))
    conn.unsubscribe(sub)
    notifier.deliver(TaskChanged("progress", task(a, TaskStatus.RUNNING, 1)))  # not pushed
    conn.begin(sub)
    conn.complete(Snapshot(()))
    notifier.deliver(TaskChanged("progress", task(a, TaskStatus.RUNNING, 2)))  # pushed
    await drained(sink, 3)
    await hub.disconnect(conn)
    assert len(hub._index) == 0  # nothing left behind for a closed connection
    assert [f.get("event") for f in sink.frames] == ["snapshot", "snapshot", "task.updated"]


async def test_the_gate_lets_a_new_address_in_before_a_busy_one_asks_again() -> None:
    gate = FairGate(at_once=1)
    order: list[str] = []
    stop = asyncio.Event()

    async def keeps_asking(address: str) -> None:
        while not stop.is_set():
            async with gate.turn(address):
                order.append(address)
                await asyncio.sleep(0)

    busy = [asyncio.create_task(keeps_asking("10.0.0.1")) for _ in range(20)]
    for _ in range(100_000):  # until the busy address has had 100 turns
        if len(order) >= 100:
            break
        await asyncio.sleep(0)
    asked_at = len(order)
    async with gate.turn("10.0.0.2"):
        order.append("10.0.0.2")
    stop.set()
    await asyncio.gather(*busy)
    assert order.index("10.0.0.2") - asked_at <= 1, order[asked_at:]  # FIFO would be 20


async def test_a_cancelled_waiter_gives_its_turn_away() -> None:
    gate = FairGate(at_once=1)
    async with gate.turn("a"):
        waiter = asyncio.create_task(gate.turn("b").__aenter__())
        await asyncio.sleep(0)
        waiter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiter
    async with asyncio.timeout(1):  # not blocked by the cancelled one
        async with gate.turn("c"):
            pass
    assert gate.last_turn == {"a": 1, "c": 2}


@pytest.mark.parametrize("make_api", ["memory"], indirect=True)
async def test_re_subscribing_sockets_do_not_delay_another_clients_snapshot(
    make_api: Factory,
) -> None:
    client, _ = await make_api(demo_agent=False, ws_max_per_client=200)
    for _ in range(30):
        body = {"task_id": str(uuid4()), "work_type": "echo"}
        answer = await client.post("/api/v1/dispatch", json=body)
        assert answer.status == 200, await answer.text()
    gate = client.app[WS_HUB].snapshots
    stop = asyncio.Event()
    hostile = [asyncio.create_task(resubscribe(client, stop)) for _ in range(40)]
    try:
        for _ in range(4000):  # 20 s at most: every hostile socket is in its loop
            if gate.turns >= 200:
                break
            await asyncio.sleep(0.005)
        connector = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
        url = client.make_url("/api/v1/ws")
        async with aiohttp.ClientSession(connector=connector) as other, other.ws_connect(url) as ws:
            before = gate.turns
            await ws.send_json({"action": "subscribe", "topic": "tasks"})
            snap = await ws.receive_json(timeout=20)
        assert snap["event"] == "snapshot" and len(snap["data"]) == 30
        overtaken = gate.last_turn["127.0.0.2"] - before - 1
        assert overtaken <= 2, overtaken  # first come first served: ~40
    finally:
        stop.set()
        await asyncio.gather(*hostile, return_exceptions=True)


async def resubscribe(client: TestClient, stop: asyncio.Event) -> None:
    async with client.ws_connect("/api/v1/ws") as ws:
        while not stop.is_set():
            await ws.send_json({"action": "subscribe", "topic": "tasks"})
            while (await ws.receive_json(timeout=20)).get("event") != "snapshot":
                pass
