"""The policies on the real stack: retries with backoff, delayed starts that outlive the replica
that took them, waiting reasons, fail-fast admission, a truthful cancel, and retention."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.e2e.harness import Cluster, Proc, eventually

pytestmark = pytest.mark.e2e


def _at(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["at"])


def _echoes(count: int) -> list[dict[str, Any]]:
    return [
        {"task_id": str(uuid.uuid4()), "work_type": "echo", "parameters": {"i": i}}
        for i in range(count)
    ]


async def _listed(cluster: Cluster, serve: Proc, query: str) -> list[str]:
    async with cluster.http.get(f"{serve.url}/api/v1/tasks?{query}") as r:
        assert r.status == 200, await r.text()
        return [t["task_id"] for t in (await r.json())["items"]]


async def test_a_failing_task_is_retried_with_a_growing_backoff_until_it_runs_out(
    cluster: Cluster,
) -> None:
    serve = await cluster.start_orchestrator()
    agent = await cluster.start_agent(serve, concurrency=2)
    task_id = str(uuid.uuid4())
    retry = {"max_attempts": 3, "backoff_s": 0.5, "on": ["failed"]}
    await cluster.dispatch(serve, {"task_id": task_id, "work_type": "fail", "retry": retry})

    (row,) = await cluster.wait_finished([task_id], 20, alive=[serve, agent])
    assert (row["status"], row["attempt"]) == ("failed", 3)
    attempts = [e["attempt"] for e in cluster.runlog() if e["event"] == "start"]
    assert attempts == [1, 2, 3]  # each attempt really ran, once
    timeline = await cluster.timeline(serve, task_id)
    kinds = [e["kind"] for e in timeline if e["kind"] != "waiting"]  # a pending task's
    assert kinds == ["dispatched"] + ["started", "finished"] * 3, kinds  # reason may change
    assert [e["status"] for e in timeline if e["kind"] == "finished"] == [
        "pending",
        "pending",
        "failed",
    ]
    # Each wait is backoff_s doubled per attempt made, 50..100% of it (the jitter).
    ended = [_at(e) for e in timeline if e["kind"] == "finished"]
    started = [_at(e) for e in timeline if e["kind"] == "started"]
    gaps = [(s - e).total_seconds() for e, s in zip(ended, started[1:], strict=False)]
    assert 0.25 <= gaps[0] < 0.5 + 1.0, gaps
    assert 0.5 <= gaps[1] < 1.0 + 1.0, gaps


async def test_delayed_starts_outlive_the_replica_that_took_them_and_fire_once(
    cluster: Cluster,
) -> None:
    first = await cluster.start_orchestrator()
    bodies = [{**body, "delay_s": 5} for body in _echoes(20)]
    answers = [await cluster.dispatch(first, body) for body in bodies]
    task_ids = [a["task_id"] for a in answers]
    due = {a["task_id"]: datetime.fromisoformat(a["not_before"]) for a in answers}
    shown = await cluster.status(first, task_ids[0])
    assert shown["waiting_reason"] == "scheduled"
    assert shown["waiting_until"] == answers[0]["not_before"]
    first.send(signal.SIGKILL)  # the work is in the outbox only: a next replica must send it
    await first.wait_exit()

    # Two replicas race for the same due outbox rows; the work goes out once.
    replicas = [await cluster.start_orchestrator() for _ in range(2)]
    agent = await cluster.start_agent(replicas[0], concurrency=4)
    ready = datetime.now(UTC)
    rows = await cluster.wait_finished(task_ids, 20, alive=[*replicas, agent])
    assert {r["status"] for r in rows} == {"completed"}
    assert cluster.runs() == dict.fromkeys(task_ids, 1)
    for task_id in task_ids:
        timeline = await cluster.timeline(replicas[1], task_id)
        (started,) = [_at(e) for e in timeline if e["kind"] == "started"]
        assert started >= due[task_id]  # never early
        late = (started - max(due[task_id], ready)).total_seconds()
        assert late < 2.0, late  # and soon after its time (or the agent's arrival)


async def test_waiting_reasons_follow_the_agents(cluster: Cluster) -> None:
    serve = await cluster.start_orchestrator()
    lonely = str(uuid.uuid4())
    await cluster.dispatch(serve, {"task_id": lonely, "work_type": "echo"})
    shown = await eventually(
        lambda: cluster.status(serve, lonely),
        lambda t: t["waiting_reason"] == "no_agent",
        10,
        "no_agent",
    )
    assert shown["status"] == "pending" and shown["waiting_until"] is None
    assert lonely in await _listed(cluster, serve, "waiting_reason=no_agent")

    agent = await cluster.start_agent(serve, concurrency=1)
    (row,) = await cluster.wait_finished([lonely], 10, alive=[serve, agent])
    assert row["status"] == "completed"
    assert (await cluster.status(serve, lonely))["waiting_reason"] is None

    # One slot, taken by a long task: the next task waits because the agents are busy.
    long, behind = str(uuid.uuid4()), str(uuid.uuid4())
    await cluster.dispatch(
        serve, {"task_id": long, "work_type": "sleep", "parameters": {"seconds": 4}}
    )
    await eventually(lambda: cluster.task(long), lambda t: t["status"] == "running", 5, "long")
    await cluster.dispatch(serve, {"task_id": behind, "work_type": "echo"})
    await eventually(
        lambda: cluster.status(serve, behind),
        lambda t: t["waiting_reason"] == "agents_busy",
        5,
        "agents_busy",
        alive=agent.check_alive,
    )
    assert await _listed(cluster, serve, "waiting_reason=no_agent") == []
    rows = await cluster.wait_finished([long, behind], 15, alive=[serve, agent])
    assert {r["status"] for r in rows} == {"completed"}


async def test_fail_fast_admission_refuses_work_no_agent_can_take(cluster: Cluster) -> None:
    serve = await cluster.start_orchestrator()
    # Agents of earlier tests (same database) are killed: wait until they are seen offline.
    await eventually(
        lambda: cluster.agents(serve),
        lambda agents: all(a["status"] == "offline" for a in agents),
        10,
        "no live agent left",
    )
    body = {"task_id": str(uuid.uuid4()), "work_type": "echo", "on_no_agent": "reject"}
    refused = await cluster.dispatch(serve, body, expect=409)
    assert refused["error_code"] == 3001 and "demo" in refused["error_message"], refused
    assert await cluster.tasks([body["task_id"]]) == []  # nothing stored

    agent = await cluster.start_agent(serve, concurrency=1)
    accepted = await cluster.dispatch(serve, body)
    assert accepted["status"] == "pending"
    (row,) = await cluster.wait_finished([body["task_id"]], 10, alive=[serve, agent])
    assert row["status"] == "completed"


async def test_a_cancel_too_late_to_stop_the_work_says_so_and_keeps_the_result(
    cluster: Cluster,
) -> None:
    serve = await cluster.start_orchestrator()
    agent = await cluster.start_agent(serve, concurrency=1)
    task_id = str(uuid.uuid4())
    await cluster.dispatch(
        serve, {"task_id": task_id, "work_type": "stubborn", "parameters": {"seconds": 5}}
    )
    await eventually(lambda: cluster.task(task_id), lambda t: t["status"] == "running", 5, "run")
    answer = await cluster.cancel(serve, task_id)
    assert (answer["status"], answer["cancel_outcome"]) == ("cancelled", "requested"), answer
    settled = await eventually(
        lambda: cluster.status(serve, task_id),
        lambda t: t["cancel_outcome"] != "requested",
        5,
        "cancel settled",
        alive=agent.check_alive,
    )
    assert settled["status"] == "cancelled"
    assert settled["cancel_outcome"] == "too_late"
    assert settled["result"] == {"finished": "anyway"}
    kinds = [e["kind"] for e in await cluster.timeline(serve, task_id)]
    assert kinds[-2:] == ["cancelled", "cancel_confirmed"], kinds
    assert cluster.runs("end") == {task_id: 1}


async def test_retention_deletes_finished_tasks_while_work_goes_on(cluster: Cluster) -> None:
    serve = await cluster.start_orchestrator(CHIFFON_RETENTION="2s")
    agent = await cluster.start_agent(serve, concurrency=8)
    unfinished = str(uuid.uuid4())
    await cluster.dispatch(
        serve, {"task_id": unfinished, "work_type": "sleep", "parameters": {"seconds": 30}}
    )
    old = await cluster.dispatch_many(serve, _echoes(600))  # more than one batch of 500
    # New work keeps coming while the old is deleted.
    fresh: list[str] = []
    deadline = time.monotonic() + 30
    while True:
        fresh += await cluster.dispatch_many(serve, _echoes(20))
        await asyncio.sleep(0.2)
        serve.check_alive()
        agent.check_alive()
        if not await cluster.tasks(old) or time.monotonic() > deadline:
            break
    assert await cluster.tasks(old) == [], "finished tasks outlived their retention"
    assert set(cluster.runs("end")) >= set(old)  # each ran to its end before it went
    conn = await cluster.db()
    left = await conn.fetchval(
        "SELECT count(*) FROM task_events WHERE task_id = ANY($1::uuid[])", old
    )
    assert left == 0  # their timelines went with them
    async with cluster.http.get(f"{serve.url}/api/v1/status/{old[0]}") as r:
        assert r.status == 404
    # Work that has not finished stays, however old.
    assert (await cluster.task(unfinished))["status"] == "running"
    # The work that arrived meanwhile all ran to completion (finished ones may be gone too).
    await eventually(
        lambda: asyncio.sleep(0, cluster.runs("end")),
        lambda ended: set(ended) >= set(fresh),
        20,
        "fresh work done",
        alive=serve.check_alive,
    )
    # A handler's end is logged before its result is applied: wait for the store to say so.
    await eventually(
        lambda: cluster.tasks(fresh),
        lambda rows: {r["status"] for r in rows} <= {"completed"},
        10,
        "fresh work completed in the store",
        alive=serve.check_alive,
    )
