"""GET /metrics: the Prometheus exposition parses, and its counts move with real work, on
memory and PostgreSQL; behind the token; a store that is down is chiffon_store_up 0."""

from __future__ import annotations

import socket
import uuid
from typing import Any

import attrs
import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapters.codec import encode_message
from adapters.memory.bus import HEARTBEATS, RESULTS
from adapters.postgres.pool import create_pool
from adapters.postgres.task_repository import PostgresTaskRepository
from chiffon.model import AgentStatus, Heartbeat, ResultStatus, WorkResult
from ports.task_repository import TaskRepository
from tests.helpers import eventually, lease, new_agent
from tests.http.conftest import Factory

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: Any, headers: dict[str, str] | None = None) -> Samples:
    answer = await client.get("/metrics", headers=headers or {})
    assert answer.status == 200, await answer.text()
    assert answer.headers["Content-Type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(await answer.text()):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_counts_move_with_real_work(make_api: Factory) -> None:
    client, wired = await make_api()
    before = await scrape(client)
    assert value(before, "chiffon_store_up") == 1
    task_id = str(uuid.uuid4())
    body = {"task_id": task_id, "work_type": "echo", "parameters": {"n": 1}}
    assert (await client.post("/api/v1/dispatch", json=body)).status == 200

    async def finished() -> Samples:
        return await scrape(client)

    after = await eventually(
        finished, lambda s: value(s, "chiffon_tasks_finished_total", work_type="echo",
                                  status="completed") == 1, 5)  # fmt: skip
    assert value(after, "chiffon_tasks_dispatched_total", work_type="echo") == 1
    assert value(after, "chiffon_task_queue_wait_seconds_count", work_type="echo") == 1
    run = value(after, "chiffon_task_run_seconds_count", work_type="echo", status="completed")
    assert run == 1
    posted = {"method": "POST", "route": "/api/v1/dispatch", "status": "200"}
    assert value(after, "chiffon_http_requests_total", **posted) == 1
    timed = {"method": "POST", "route": "/api/v1/dispatch"}
    assert value(after, "chiffon_http_request_duration_seconds_count", **timed) == 1
    assert value(after, "chiffon_websocket_connections") == 0
    assert value(after, "chiffon_outbox_unsent") >= 0

    # A duplicate result changes nothing, and is counted as such.
    task = await wired.service.get_task(uuid.UUID(task_id))
    assert task.agent_id is not None
    again = WorkResult(
        task.task_id,
        task.request_id,
        task.agent_id,
        1,
        ResultStatus.COMPLETED,
        lease=lease(task.task_id),
    )
    assert wired.broker is not None
    wired.broker.publish(RESULTS, encode_message(again))
    ignored = await eventually(
        finished, lambda s: value(s, "chiffon_agent_messages_ignored_total", kind="finished") == 1
    )
    # One without the attempt's lease token (anyone with the broker login) is refused.
    wired.broker.publish(RESULTS, encode_message(attrs.evolve(again, lease="")))
    await eventually(
        finished,
        lambda s: value(s, "chiffon_agent_messages_refused_total", reason="no_lease") == 1,
    )
    wired.broker.publish(RESULTS, b'{"not": "an envelope"}')  # dead-lettered, and counted
    await eventually(
        finished,
        lambda s: value(s, "chiffon_agent_messages_refused_total", reason="malformed") == 1,
    )
    assert value(ignored, "chiffon_tasks_finished_total", work_type="echo", status="completed") == 1


async def test_gauges_come_from_the_store(make_api: Factory) -> None:
    client, _ = await make_api()
    for _ in range(3):  # nobody serves research: they stay pending
        body = {"task_id": str(uuid.uuid4()), "work_type": "research"}
        assert (await client.post("/api/v1/dispatch", json=body)).status == 200

    async def gauges() -> Samples:
        return await scrape(client)

    seen = await eventually(
        gauges,
        lambda s: (
            value(s, "chiffon_tasks", status="pending") == 3
            and value(s, "chiffon_agents", agent_type="demo", status="online") == 1
        ),
        8,  # the gauges are cached for 5 s
    )
    assert value(seen, "chiffon_tasks", status="failed") == 0


async def test_a_pending_task_that_changes_is_not_dispatched_again(make_api: Factory) -> None:
    client, wired = await make_api()
    body = {"task_id": str(uuid.uuid4()), "work_type": "research"}
    assert (await client.post("/api/v1/dispatch", json=body)).status == 200

    async def reason() -> str:
        answer = await client.get(f"/api/v1/status/{body['task_id']}")
        return str((await answer.json())["waiting_reason"])

    assert await reason() == "no_agent"
    # A research agent turns up: the pending task's waiting reason changes (a new revision,
    # still pending, still attempt 1), which is not a second dispatch.
    agent_id, key = new_agent()
    beat = Heartbeat(agent_id, "research", AgentStatus.ONLINE, ("research",), 1, (), {}, False, key)
    assert wired.broker is not None
    wired.broker.publish(HEARTBEATS, encode_message(beat))
    await eventually(reason, lambda r: r != "no_agent", 5)
    samples = await scrape(client)
    assert value(samples, "chiffon_tasks_dispatched_total", work_type="research") == 1


async def test_metrics_are_behind_the_token(make_api: Factory) -> None:
    client, _ = await make_api(api_token="s3cret")
    assert (await client.get("/metrics")).status == 401
    samples = await scrape(client, {"Authorization": "Bearer s3cret"})
    refused = {"method": "GET", "route": "/metrics", "status": "401"}
    assert value(samples, "chiffon_http_requests_total", **refused) == 1


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.postgres
async def test_a_store_that_is_down_is_store_up_0_not_a_500(make_api: Factory) -> None:
    pool = await create_pool(f"postgresql://postgres@127.0.0.1:{closed_port()}/x", min_size=0)
    try:
        client, _ = await make_api(instances={TaskRepository: PostgresTaskRepository(pool)})
        samples = await scrape(client)
        assert value(samples, "chiffon_store_up") == 0
    finally:
        await pool.close()
