"""A schedule keeps firing each scheduled time exactly once when the replica that fires it is
killed: two `chiffon serve` replicas on PostgreSQL + RabbitMQ, one SIGKILLed mid-schedule."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from tests.e2e.harness import Cluster, eventually

pytestmark = pytest.mark.e2e

EVERY_S = 1.0


async def fired(cluster: Cluster, schedule_id: str) -> list[dict[str, Any]]:
    conn = await cluster.db()
    rows = await conn.fetch(
        "SELECT task_id::text AS task_id, scheduled_at, status FROM tasks"
        " WHERE schedule_id = $1::uuid ORDER BY scheduled_at",
        schedule_id,
    )
    return [dict(r) for r in rows]


async def test_killing_a_replica_while_a_schedule_is_due_loses_and_repeats_nothing(
    cluster: Cluster,
) -> None:
    replica_a = await cluster.start_orchestrator()
    replica_b = await cluster.start_orchestrator()
    await cluster.start_agent(replica_b, concurrency=4)
    body = {"interval_s": EVERY_S, "work_type": "echo", "overlap": "allow_all"}
    url = f"{replica_a.url}/api/v1/schedules"
    async with aiohttp.ClientSession() as http, http.post(url, json=body) as answer:
        assert answer.status == 201, await answer.text()
        schedule_id = (await answer.json())["schedule_id"]
    await eventually(lambda: fired(cluster, schedule_id), lambda r: len(r) >= 3, 20, "3 fires")
    await replica_a.kill()  # due again within a second: replica B must carry on
    before = len(await fired(cluster, schedule_id))
    rows = await eventually(
        lambda: fired(cluster, schedule_id), lambda r: len(r) >= before + 4, 20, "4 more fires"
    )
    times = [r["scheduled_at"] for r in rows]
    step = timedelta(seconds=EVERY_S)
    assert all(b - a == step for a, b in itertools.pairwise(times)), times
    assert len({r["task_id"] for r in rows}) == len(rows)
    done = await eventually(
        lambda: fired(cluster, schedule_id),
        lambda r: sum(x["status"] == "completed" for x in r) >= len(rows),
        20,
        "the fired tasks complete",
    )
    assert len(done) >= len(rows)
