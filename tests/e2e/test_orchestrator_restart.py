"""Orchestrator restart with work pending and no agent: nothing is lost, nothing runs twice.

Part of the work is already on the broker's queue when the orchestrator stops; the rest is
still in the outbox (dispatched while the orchestrator could not reach the broker), so only
the relay of the restarted process can send it.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections import Counter
from typing import Any

import pytest

from tests.amqp_fixtures import close_vhost_connections, rabbitmqctl
from tests.e2e.harness import Cluster, eventually

pytestmark = pytest.mark.e2e

BATCH = 40


def _bodies(count: int, tag: str) -> list[dict[str, Any]]:
    return [
        {
            "task_id": str(uuid.uuid4()),
            "work_type": "echo" if i % 2 else "sleep",
            "priority": 1 + i % 5,
            "parameters": {"tag": tag, "i": i} if i % 2 else {"seconds": 0.01},
        }
        for i in range(count)
    ]


async def _block_connections(vhost: str, blocked: bool) -> None:
    if blocked:
        args = ["set_vhost_limits", "-p", vhost, '{"max-connections": 0}']
    else:
        args = ["clear_vhost_limits", "-p", vhost]
    await asyncio.to_thread(rabbitmqctl, *args)


async def test_orchestrator_restart_keeps_pending_work_and_the_outbox(cluster: Cluster) -> None:
    serve = await cluster.start_orchestrator()
    queued = await cluster.dispatch_many(serve, _bodies(BATCH, "queued"))
    await eventually(cluster.unsent_outbox, lambda n: n == 0, 10, "first batch published")

    # Cut the orchestrator off the broker: what it accepts now stays in its outbox.
    await _block_connections(cluster.vhost, blocked=True)
    try:
        await close_vhost_connections(cluster.vhost)
        await eventually(
            lambda: cluster.ready(serve), lambda s: s == 503, 10, "/ready says the bus is down"
        )
        unsent = await cluster.dispatch_many(serve, _bodies(BATCH, "outbox"))
        assert await cluster.unsent_outbox() == 2 * BATCH  # each: its announcement and work
        serve.send(signal.SIGTERM)
        assert await serve.wait_exit(timeout=15) == 0, serve.tail()
    finally:
        await _block_connections(cluster.vhost, blocked=False)

    task_ids = queued + unsent
    rows = await cluster.tasks(task_ids)
    assert Counter(r["status"] for r in rows) == {"pending": 2 * BATCH}
    assert await cluster.unsent_outbox() == 2 * BATCH
    assert cluster.runlog() == []

    restarted = await cluster.start_orchestrator()
    await eventually(cluster.unsent_outbox, lambda n: n == 0, 10, "outbox relayed after restart")
    agent = await cluster.start_agent(restarted, concurrency=4)
    rows = await cluster.wait_finished(task_ids, timeout=30, alive=[restarted, agent])

    assert Counter(r["status"] for r in rows) == {"completed": 2 * BATCH}
    assert {r["attempt"] for r in rows} == {1}
    assert {r["agent_id"] for r in rows} == {agent.agent_id}
    assert cluster.runs("start") == Counter(task_ids)
    assert cluster.runs("end") == Counter(task_ids)
    assert "ignored result" not in restarted.log()
