"""`kill -9` of an agent process: running work is retried by the lease, held work redelivered."""

from __future__ import annotations

import signal
import time
import uuid
from typing import Any

import pytest

from chiffon.config import OrchestratorConfig
from tests.e2e.harness import HEARTBEAT_INTERVAL_S, Cluster, demo_queue_counts, eventually

pytestmark = pytest.mark.e2e

OFFLINE_AFTER_S = 3 * HEARTBEAT_INTERVAL_S
DEFAULTS = {"CHIFFON_HEARTBEAT_INTERVAL_S": ""}  # empty: unset, so the defaults apply
PROMISED_S = 10.0  # a dead agent is noticed within 10 s by default (7 s: 3 x 2 s + a sweep)


async def test_agent_killed_mid_task_goes_offline_and_the_task_is_retried_elsewhere(
    cluster: Cluster,
) -> None:
    default = OrchestratorConfig()
    assert default.detection_s <= PROMISED_S
    serve = await cluster.start_orchestrator(**DEFAULTS)
    agents = [await cluster.start_agent(serve, concurrency=4, **DEFAULTS) for _ in range(2)]
    by_id = {a.agent_id: a for a in agents}
    task_id = str(uuid.uuid4())
    await cluster.dispatch(
        serve,
        {"task_id": task_id, "work_type": "sleep", "parameters": {"seconds": 3, "step_s": 0.5}},
    )
    running = await eventually(
        lambda: cluster.task(task_id),
        lambda t: t["status"] == "running" and t["agent_id"] is not None,
        10,
        "task running",
    )
    assert running["attempt"] == 1
    victim = by_id[running["agent_id"]]
    (survivor,) = (a for a in agents if a is not victim)
    # Let the handler get going (its progress reaches the store), then kill its process.
    await eventually(
        lambda: cluster.status(serve, task_id),
        lambda t: (t["progress_percent"] or 0) > 0,
        5,
        "progress reported",
    )

    victim.send(signal.SIGKILL)
    killed_at = time.monotonic()
    assert await victim.wait_exit() == -signal.SIGKILL
    # Noticed with the default settings within the promised time, and retried at once.
    retried = await eventually(
        lambda: cluster.task(task_id),
        lambda t: t["attempt"] == 2,
        PROMISED_S,
        "killed agent's task retried",
        alive=survivor.check_alive,
    )
    offline_after = time.monotonic() - killed_at
    # Lost because its heartbeats stopped: not before they were missed.
    assert offline_after >= default.offline_after_s - default.heartbeat_interval_s
    assert retried["status"] in ("pending", "running", "completed")
    assert await cluster.agent_status(serve, victim.agent_id) == "offline"
    assert await cluster.agent_status(serve, survivor.agent_id) in ("online", "busy")

    (done,) = await cluster.wait_finished([task_id], timeout=15, alive=[serve, survivor])
    assert done["status"] == "completed"
    assert done["attempt"] == 2
    assert done["agent_id"] == survivor.agent_id
    assert done["result"] == {"slept_s": 3.0}
    runs = [(e["event"], e["attempt"], e["agent_id"]) for e in cluster.runlog()]
    assert runs == [
        ("start", 1, victim.agent_id),  # killed before it returned: no "end"
        ("start", 2, survivor.agent_id),
        ("end", 2, survivor.agent_id),
    ]
    print(f"killed agent offline after {offline_after:.2f}s")


async def test_agent_killed_while_holding_unstarted_work_the_broker_redelivers_it(
    cluster: Cluster,
) -> None:
    serve = await cluster.start_orchestrator()
    holder = await cluster.start_agent(serve, concurrency=1)
    # Occupy the holder's only slot ...
    busy_id = str(uuid.uuid4())
    await cluster.dispatch(
        serve,
        {"task_id": busy_id, "work_type": "sleep", "parameters": {"seconds": 60, "step_s": 1}},
    )
    await eventually(
        lambda: cluster.task(busy_id), lambda t: t["status"] == "running", 10, "busy task running"
    )
    # ... so the next task is delivered to it (prefetch = concurrency = 1, and the first
    # delivery was acked once it ran) but waits for the slot: held, unacked, not started.
    held_id = str(uuid.uuid4())
    await cluster.dispatch(
        serve, {"task_id": held_id, "work_type": "echo", "parameters": {"held": True}}
    )
    await eventually(cluster.unsent_outbox, lambda n: n == 0, 10, "work published")
    await eventually(
        lambda: demo_queue_counts(cluster),
        lambda counts: counts == (0, 1),
        10,
        "held by the agent (0 ready, 1 unacked)",
        interval=0.2,
    )
    assert (await cluster.task(held_id))["status"] == "pending"

    holder.send(signal.SIGKILL)
    assert await holder.wait_exit() == -signal.SIGKILL
    # The broker takes the held message back at once (the busy task waits for the lease).
    await eventually(
        lambda: demo_queue_counts(cluster),
        lambda counts: counts[0] >= 1 and counts[1] == 0,
        10,
        "requeued by the broker",
        interval=0.2,
    )

    rescuer = await cluster.start_agent(serve, concurrency=2)
    (held,) = await cluster.wait_finished([held_id], timeout=15, alive=[serve, rescuer])
    assert held["status"] == "completed"
    assert held["attempt"] == 1  # a redelivery, not a retry: it had never run
    assert held["agent_id"] == rescuer.agent_id
    assert held["result"] == {"held": True}
    assert cluster.runs()[held_id] == 1
    assert [e["agent_id"] for e in cluster.runlog() if e["task_id"] == held_id] == [
        rescuer.agent_id,
        rescuer.agent_id,
    ]

    # The task the killed agent was running is the lease's: retried as attempt 2.
    await eventually(
        lambda: cluster.agent_status(serve, holder.agent_id),
        lambda status: status == "offline",
        OFFLINE_AFTER_S + 5,
        "killed agent offline",
    )
    busy = await eventually(
        lambda: cluster.task(busy_id),
        lambda t: t["attempt"] == 2 and t["status"] == "running",
        10,
        "busy task retried on the rescuer",
    )
    assert busy["agent_id"] == rescuer.agent_id
    assert (await cluster.cancel(serve, busy_id))["status"] == "cancelled"


async def test_a_paused_agent_is_lost_and_its_late_reports_are_refused(cluster: Cluster) -> None:
    serve = await cluster.start_orchestrator(**DEFAULTS)
    agents = [await cluster.start_agent(serve, concurrency=2, **DEFAULTS) for _ in range(2)]
    task_id = str(uuid.uuid4())
    sleep = {"seconds": 4, "step_s": 0.5}
    await cluster.dispatch(serve, {"task_id": task_id, "work_type": "sleep", "parameters": sleep})
    running = await eventually(
        lambda: cluster.status(serve, task_id),
        lambda t: t["status"] == "running" and (t["progress_percent"] or 0) > 0,
        10,
        "task running with progress",
    )
    paused = next(a for a in agents if a.agent_id == running["agent_id"])
    (other,) = (a for a in agents if a is not paused)
    paused.send(signal.SIGSTOP)
    try:
        await eventually(
            lambda: cluster.task(task_id),
            lambda t: t["attempt"] == 2 and t["agent_id"] == other.agent_id,
            PROMISED_S,
            "paused agent's task retried on the other agent",
        )
    finally:
        paused.send(signal.SIGCONT)  # it wakes up believing it still runs attempt 1
    (done,) = await cluster.wait_finished([task_id], timeout=15, alive=[serve, other, paused])
    assert (done["status"], done["attempt"], done["agent_id"]) == ("completed", 2, other.agent_id)

    async def refused() -> list[dict[str, Any]]:
        events = await cluster.http.get(f"{serve.url}/api/v1/tasks/{task_id}/events")
        items = (await events.json())["items"]
        return [e["changes"]["refused"] for e in items if e["kind"] == "report_refused"]

    # Its late result (attempt 1) was refused, recorded, never applied.
    late = await eventually(
        refused, lambda r: any(x["report"] == "finished" for x in r), 15, "refused"
    )
    assert {(x["agent_id"], x["attempt"]) for x in late} == {(paused.agent_id, 1)}
    assert all(x["reason"] == "attempt 1 is not the current attempt (2)" for x in late)
    final = await cluster.status(serve, task_id)
    assert (final["status"], final["agent_id"], final["result"]) == (
        "completed",
        other.agent_id,
        {"slept_s": 4.0},
    )
