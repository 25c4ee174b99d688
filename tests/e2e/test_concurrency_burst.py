"""Concurrency limits under a burst, on real processes: two `chiffon serve` replicas on
PostgreSQL + RabbitMQ and two agents take a burst of keyed dispatches through both replicas;
the agents' own record of their handler runs shows never more running per key than allowed,
every task completes, and (as for every e2e test) the history checker, its concurrency rule
included, finds nothing."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest

from tests.e2e.harness import Cluster

pytestmark = pytest.mark.e2e

LIMITS = {"db-1": 1, "db-2": 3}
PER_KEY = 24


async def test_a_burst_never_runs_more_than_a_key_allows(cluster: Cluster) -> None:
    replica_a = await cluster.start_orchestrator()
    replica_b = await cluster.start_orchestrator()
    agents = [
        await cluster.start_agent(replica_a, concurrency=4),
        await cluster.start_agent(replica_b, concurrency=4),
    ]
    key_of: dict[str, str] = {}
    bodies: dict[str, list[dict[str, object]]] = {"a": [], "b": []}
    for n in range(PER_KEY * len(LIMITS)):
        key = "db-1" if n % 2 else "db-2"
        task_id = str(uuid.uuid4())
        key_of[task_id] = key
        bodies["a" if n % 4 < 2 else "b"].append(
            {
                "task_id": task_id,
                "work_type": "sleep",
                "parameters": {"seconds": 0.1, "step_s": 0.05},
                "priority": 1 + n % 5,
                "concurrency": {"key": key, "max_running": LIMITS[key]},
            }
        )
    unkeyed = [{"task_id": str(uuid.uuid4()), "work_type": "echo"} for _ in range(10)]
    ids = await cluster.dispatch_many(replica_a, bodies["a"] + unkeyed[:5])
    ids += await cluster.dispatch_many(replica_b, bodies["b"] + unkeyed[5:])
    alive = [replica_a, replica_b, *agents]
    rows = await cluster.wait_finished(ids, timeout=90, alive=alive)
    assert Counter(r["status"] for r in rows) == Counter({"completed": len(ids)})

    # The agents' record, one line per handler start and end, in the order they happened
    # (appended by every agent process to one file): how many ran at once, per key.
    running: Counter[str] = Counter()
    most: Counter[str] = Counter()
    for line in cluster.runlog():
        key = key_of.get(line["task_id"])
        if key is None:
            continue
        running[key] += 1 if line["event"] == "start" else -1
        most[key] = max(most[key], running[key])
    assert most["db-1"] == 1, most
    assert 1 <= most["db-2"] <= LIMITS["db-2"], most
    assert cluster.runs("start") == cluster.runs("end")  # each handler ran to its end, once
