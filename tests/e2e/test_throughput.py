"""500 tasks through one orchestrator and two agent processes: each completes, each runs once."""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter

import pytest

from tests.e2e.harness import Cluster

pytestmark = pytest.mark.e2e

TASKS = 500


def _bodies(count: int, rng: random.Random) -> list[dict[str, object]]:
    bodies: list[dict[str, object]] = []
    for i in range(count):
        body: dict[str, object] = {"task_id": str(uuid.uuid4()), "priority": 1 + i % 5}
        if i % 2:
            body.update(work_type="echo", parameters={"i": i, "word": f"w{i}"})
        else:
            seconds = round(rng.uniform(0.01, 0.05), 3)
            body.update(work_type="sleep", parameters={"seconds": seconds, "step_s": 1})
        bodies.append(body)
    return bodies


async def test_500_mixed_tasks_complete_exactly_once_across_two_agents(cluster: Cluster) -> None:
    serve = await cluster.start_orchestrator()
    first = await cluster.start_agent(serve, concurrency=4)
    second = await cluster.start_agent(serve, concurrency=4)
    bodies = _bodies(TASKS, random.Random(7))

    started = time.monotonic()
    task_ids = await cluster.dispatch_many(serve, bodies, parallel=32)
    assert task_ids == [b["task_id"] for b in bodies]
    rows = await cluster.wait_finished(task_ids, timeout=60, alive=[serve, first, second])
    elapsed = time.monotonic() - started

    by_id = {r["task_id"]: r for r in rows}
    assert len(by_id) == TASKS
    assert Counter(r["status"] for r in rows) == {"completed": TASKS}
    assert {r["attempt"] for r in rows} == {1}
    for body in bodies:
        row = by_id[str(body["task_id"])]
        if body["work_type"] == "echo":
            assert row["result"] == body["parameters"], row
    # The store says who ran each task: both agents took work, nobody else did.
    per_agent = Counter(r["agent_id"] for r in rows)
    assert set(per_agent) == {first.agent_id, second.agent_id}, per_agent
    assert min(per_agent.values()) > 0, per_agent
    # The agents' own record: every handler started and returned exactly once, as attempt 1,
    # on the agent the store names.
    runlog = cluster.runlog()
    starts = Counter(e["task_id"] for e in runlog if e["event"] == "start")
    ends = Counter(e["task_id"] for e in runlog if e["event"] == "end")
    assert starts == Counter(task_ids), "some task ran twice or never"
    assert ends == Counter(task_ids)
    assert {e["attempt"] for e in runlog} == {1}
    for event in runlog:
        assert by_id[event["task_id"]]["agent_id"] == event["agent_id"]
    # No result was applied twice or arrived for a task that was already finished.
    assert "ignored result" not in serve.log()
    print(f"{TASKS} tasks in {elapsed:.1f}s; per agent: {dict(per_agent)}")
