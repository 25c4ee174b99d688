"""Broker-side faults: every connection dropped mid-load, and malformed work on the queue."""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import aiormq
import pytest
from pamqp.commands import Basic

from tests.amqp_fixtures import close_vhost_connections
from tests.e2e.harness import Cluster, Proc, demo_queue_counts, eventually

pytestmark = pytest.mark.e2e

TERMINAL = {"completed", "failed", "cancelled", "timed_out"}


def _sleeps(count: int, rng: random.Random) -> list[dict[str, Any]]:
    return [
        {
            "task_id": str(uuid.uuid4()),
            "work_type": "sleep",
            "priority": rng.randint(1, 5),
            "parameters": {"seconds": round(rng.uniform(0.04, 0.08), 3), "step_s": 1},
        }
        for _ in range(count)
    ]


async def _watch_ready(cluster: Cluster, serve: Proc, seen: list[tuple[float, int | None]]) -> None:
    while True:
        seen.append((time.monotonic(), await cluster.ready(serve)))
        await asyncio.sleep(0.02)


async def test_all_connections_dropped_with_work_in_flight_loses_and_doubles_nothing(
    cluster: Cluster,
) -> None:
    serve = await cluster.start_orchestrator()
    agents = [await cluster.start_agent(serve, concurrency=4) for _ in range(2)]
    procs = [serve, *agents]
    rng = random.Random(11)
    readiness: list[tuple[float, int | None]] = []
    watcher = asyncio.create_task(_watch_ready(cluster, serve, readiness))
    try:
        first = await cluster.dispatch_many(serve, _sleeps(250, rng))
        rows = await eventually(
            lambda: cluster.tasks(first),
            lambda rows: sum(r["status"] == "completed" for r in rows) >= 40,
            30,
            "some of the first batch completed",
            interval=0.02,
        )
        in_flight = sum(r["status"] not in TERMINAL for r in rows)
        fault_at = time.monotonic()
        await close_vhost_connections(cluster.vhost)
        # Work accepted while the bus reconnects is not lost either.
        second = await cluster.dispatch_many(serve, _sleeps(50, rng))
        task_ids = first + second
        rows = await cluster.wait_finished(task_ids, timeout=60, alive=procs)
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)

    assert in_flight >= 80, f"only {in_flight} tasks were in flight at the fault"
    # Every accepted task completed, once in the store, as a sane attempt.
    assert len(rows) == len(task_ids) == len({r["task_id"] for r in rows})
    assert Counter(r["status"] for r in rows) == {"completed": len(task_ids)}
    attempts = Counter(r["attempt"] for r in rows)
    assert set(attempts) <= {1, 2, 3}, attempts
    assert {r["agent_id"] for r in rows} <= {a.agent_id for a in agents}
    # The agents' record: each task's handler returned at least once. Delivery is at least
    # once: a work message whose publish batch was cut by the fault goes out again (the relay
    # retries the whole unconfirmed batch), so a handler may run twice; the store applies one.
    ends = Counter(e["task_id"] for e in cluster.runlog() if e["event"] == "end")
    assert set(ends) == set(task_ids)
    twice = {t: n for t, n in ends.items() if n > 1}
    # Each process saw its connection dropped and came back.
    for proc in procs:
        assert "lost; reconnecting" in proc.log(), f"{proc.name} never lost its connection"
        proc.check_alive()
    for agent in agents:
        assert await cluster.agent_status(serve, agent.agent_id) in ("online", "busy")
    after = [status for at, status in readiness if at >= fault_at]
    assert await cluster.ready(serve) == 200
    down = sum(status == 503 for status in after)
    print(
        f"{in_flight} in flight at the fault; attempts {dict(attempts)}; re-runs {len(twice)};"
        f" /ready polled {len(after)}x after the fault, 503 {down}x"
    )


async def test_work_held_across_a_dropped_connection_runs_once(cluster: Cluster) -> None:
    """An agent holds a delivery it has not started (waiting for its only slot) when its
    connection drops: the broker takes the message back and delivers it again; the agent
    must run the task once, not once for the lost delivery and once for the new one."""
    serve = await cluster.start_orchestrator()
    agent = await cluster.start_agent(serve, concurrency=1)
    busy_id, held_id = str(uuid.uuid4()), str(uuid.uuid4())
    await cluster.dispatch(
        serve,
        {"task_id": busy_id, "work_type": "sleep", "parameters": {"seconds": 30, "step_s": 1}},
    )
    await eventually(
        lambda: cluster.task(busy_id), lambda t: t["status"] == "running", 10, "busy running"
    )
    await cluster.dispatch(serve, {"task_id": held_id, "work_type": "echo", "parameters": {}})
    await eventually(cluster.unsent_outbox, lambda n: n == 0, 10, "work published")
    await eventually(
        lambda: demo_queue_counts(cluster),
        lambda counts: counts == (0, 1),
        10,
        "held by the agent (0 ready, 1 unacked)",
        interval=0.2,
    )

    await close_vhost_connections(cluster.vhost)
    # Once everyone is back (the broker has redelivered the held message by then), free the
    # slot: the agent now holds two claims on one task, the lost delivery and the new one.
    for proc in (serve, agent):
        await eventually(
            _async_log(proc), lambda text: "(connect #2)" in text, 10, f"{proc.name} reconnected"
        )
    await eventually(lambda: cluster.ready(serve), lambda s: s == 200, 10, "/ready ok again")
    assert (await cluster.cancel(serve, busy_id))["status"] == "cancelled"
    (held,) = await cluster.wait_finished([held_id], timeout=10, alive=[serve, agent])

    assert held["status"] == "completed"
    assert held["attempt"] == 1
    assert (await cluster.task(busy_id))["status"] == "cancelled"
    await asyncio.sleep(0.5)  # a second run, if any, would be quick (echo)
    runs = cluster.runs("start")  # this test's tasks (the module's database is shared)
    assert (runs[busy_id], runs[held_id]) == (1, 1), f"a task ran twice: {runs}"


def _async_log(proc: Proc) -> Callable[[], Awaitable[str]]:
    async def read() -> str:
        return proc.log()

    return read


async def test_malformed_work_is_dead_lettered_and_the_agent_keeps_working(
    cluster: Cluster,
) -> None:
    serve = await cluster.start_orchestrator()
    agent = await cluster.start_agent(serve, concurrency=2)
    bad = [
        b"this is not json",
        json.dumps({"protocol_version": "1.0", "type": "work_request", "payload": {}}).encode(),
        json.dumps({"protocol_version": "1.0", "type": "no_such_type", "payload": {}}).encode(),
    ]
    conn = await aiormq.connect(cluster.amqp_url)
    try:
        ch = await conn.channel()
        for body in bad[:2]:
            confirm = await ch.basic_publish(
                body,
                exchange=cluster.queue("work"),
                routing_key="demo",
                properties=Basic.Properties(delivery_mode=2),
                mandatory=True,
            )
            assert isinstance(confirm, Basic.Ack)
        # ... and one straight into the queue (default exchange).
        await ch.basic_publish(bad[2], exchange="", routing_key=cluster.queue("work.demo"))

        dead: dict[bytes, Any] = {}

        async def collect() -> dict[bytes, Any]:
            message = await ch.basic_get(cluster.queue("dead"), no_ack=True, timeout=5)
            if not isinstance(message.delivery, Basic.GetEmpty):
                dead[message.body] = message.header.properties.headers
            return dead

        await eventually(collect, lambda d: set(bad) <= set(d), 10, "dead-lettered")
    finally:
        await conn.close()

    for body in bad:
        (death,) = dead[body]["x-death"]
        assert death["queue"] == cluster.queue("work.demo")
        assert death["reason"] == "rejected"
    assert agent.log().count("dead-lettering a work message") == len(bad)

    # The same agent process is still taking work.
    task_id = str(uuid.uuid4())
    await cluster.dispatch(serve, {"task_id": task_id, "work_type": "echo", "parameters": {"a": 1}})
    (row,) = await cluster.wait_finished([task_id], timeout=10, alive=[serve, agent])
    assert row["status"] == "completed"
    assert row["agent_id"] == agent.agent_id
    assert row["result"] == {"a": 1}
