"""What callers see when something really breaks."""

import logging
import uuid
from typing import Any

import pytest

from adapters.memory.task_repository import InMemoryTaskRepository
from adapters.postgres.pool import create_pool
from adapters.postgres.task_repository import PostgresTaskRepository
from ports.task_repository import TaskRepository
from tests.http.conftest import Factory
from tests.http.test_dispatch_api import body


class BrokenRepository(InMemoryTaskRepository):
    async def get(self, task_id: uuid.UUID) -> Any:
        raise RuntimeError("disk on fire")


async def test_an_unexpected_error_is_500_5000_with_a_trace_id_in_the_log(
    make_api: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    client, _ = await make_api(instances={TaskRepository: BrokenRepository()})
    with caplog.at_level(logging.ERROR):
        resp = await client.get(f"/api/v1/status/{uuid.uuid4()}")
    assert resp.status == 500
    err = await resp.json()
    assert err["error_code"] == 5000 and "disk on fire" not in err["error_message"]
    assert err["trace_id"] in caplog.text and "disk on fire" in caplog.text


@pytest.mark.postgres
async def test_a_database_that_is_down_makes_ready_and_dispatch_503(
    make_api: Factory, pg_database: str
) -> None:
    """(Runs for both store params; the store under test is this closed pool.)"""
    pool = await create_pool(pg_database, min_size=1, max_size=2)
    client, _ = await make_api(instances={TaskRepository: PostgresTaskRepository(pool)})
    await pool.close()  # the database is gone for this process
    ready = await client.get("/ready")
    assert ready.status == 503
    assert (await ready.json())["checks"]["store"].startswith("down")
    req = body()
    resp = await client.post("/api/v1/dispatch", json=req)
    assert resp.status == 503 and (await resp.json())["error_code"] == 5030
    status = await client.get(f"/api/v1/status/{req['task_id']}")
    assert status.status == 503
