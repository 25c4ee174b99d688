"""Live push across replicas: a WebSocket client on replica A sees every change of the tasks
dispatched through replica B, none missing, none out of order per task."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from typing import Any

import aiohttp
import pytest

from tests.e2e.harness import Cluster

pytestmark = pytest.mark.e2e

TASKS = 200
RANK = {"pending": 0, "running": 1, "completed": 2}


async def test_a_client_on_one_replica_sees_every_change_made_through_another(
    cluster: Cluster,
) -> None:
    replica_a = await cluster.start_orchestrator()
    replica_b = await cluster.start_orchestrator()
    await cluster.start_agent(replica_b, concurrency=4)
    seen: dict[str, list[str]] = defaultdict(list)
    started: set[str] = set()  # tasks whose pushed state says they started (started_at set)
    seqs: list[int] = []
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{replica_a.url}/api/v1/ws") as ws:
        await ws.send_json({"action": "subscribe", "topic": "tasks"})
        snapshot = await ws.receive_json(timeout=10)
        assert snapshot["event"] == "snapshot"
        bodies = [
            {
                "task_id": str(uuid.uuid4()),
                "work_type": "echo",
                "parameters": {"i": i},
                "priority": 1 + i % 5,
            }
            for i in range(TASKS)
        ]
        dispatching = asyncio.create_task(cluster.dispatch_many(replica_b, bodies, parallel=16))
        wanted = {b["task_id"] for b in bodies}
        deadline = time.monotonic() + 60
        while not all("completed" in seen[t] for t in wanted):
            assert time.monotonic() < deadline, f"missing: {_missing(seen, wanted)}"
            frame: dict[str, Any] = await ws.receive_json(timeout=30)
            if frame.get("event") == "task.updated":
                seqs.append(frame["seq"])
                seen[frame["data"]["task_id"]].append(frame["data"]["status"])
                if frame["data"].get("started_at"):
                    started.add(frame["data"]["task_id"])
        await dispatching
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    for task_id in wanted:
        statuses = seen[task_id]
        # A short task's running and result may be applied in one write (ADR 0017): then its
        # frames go from pending to completed, the last one saying it started.
        assert statuses[0] == "pending" and task_id in started, (task_id, statuses)
        assert [RANK[s] for s in statuses] == sorted(RANK[s] for s in statuses), statuses
    rows = await cluster.tasks(sorted(wanted))
    assert {r["status"] for r in rows} == {"completed"}


def _missing(seen: dict[str, list[str]], wanted: set[str]) -> dict[str, list[str]]:
    return {t: seen[t] for t in list(wanted) if "completed" not in seen[t]}
