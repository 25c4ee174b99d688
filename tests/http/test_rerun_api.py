"""POST /api/v1/tasks/{id}/rerun on both stores: the same work and policies as a new task."""

from __future__ import annotations

import uuid

from aiohttp.test_utils import TestClient

from tests.helpers import eventually
from tests.http.test_dispatch_api import body, status_of
from tests.http.test_query_and_cancel_api import get_json


async def test_a_finished_task_reruns_with_its_work_and_policies(api: TestClient) -> None:
    trace = str(uuid.uuid4())
    req = body(
        work_type="fail",
        parameters={"message": "flaky"},
        priority=4,
        timeout_s=30,
        trace_id=trace,
        retry={"max_attempts": 2, "on": ["failed"], "backoff_s": 0.01},
    )
    assert (await api.post("/api/v1/dispatch", json=req)).status == 200
    first = await eventually(
        lambda: status_of(api, req["task_id"]), lambda t: t["status"] == "failed"
    )
    assert first["rerun_of"] is None
    new_id = str(uuid.uuid4())
    resp = await api.post(f"/api/v1/tasks/{req['task_id']}/rerun", json={"task_id": new_id})
    assert resp.status == 200, await resp.text()
    answer = await resp.json()
    assert answer["task_id"] == new_id and answer["rerun_of"] == req["task_id"]
    assert answer["trace_id"] == trace and answer["status"] == "pending"
    again = await status_of(api, new_id)
    same = ("work_type", "parameters", "priority", "timeout_s", "trace_id", "max_attempts")
    assert {k: again[k] for k in same} == {k: first[k] for k in same}
    assert (again["retry_on"], again["rerun_of"]) == (first["retry_on"], req["task_id"])
    assert again["request_id"] != first["request_id"]
    done = await eventually(lambda: status_of(api, new_id), lambda t: t["status"] == "failed")
    assert done["attempt"] == 2  # its retry policy came along
    # Idempotent on the new task_id; without one, each call is a new task.
    repeat = await api.post(f"/api/v1/tasks/{req['task_id']}/rerun", json={"task_id": new_id})
    assert (await repeat.json())["task_id"] == new_id
    fresh = await api.post(f"/api/v1/tasks/{req['task_id']}/rerun")
    assert fresh.status == 200 and (await fresh.json())["task_id"] not in (new_id, req["task_id"])
    reruns = await get_json(api, f"/api/v1/tasks?trace_id={trace}")
    assert len(reruns["items"]) == 3


async def test_rerun_of_an_unfinished_or_missing_task_is_refused(api: TestClient) -> None:
    req = body(work_type="ansible")  # no infra agent: it stays pending
    assert (await api.post("/api/v1/dispatch", json=req)).status == 200
    pending = await api.post(f"/api/v1/tasks/{req['task_id']}/rerun")
    assert pending.status == 409
    err = await pending.json()
    assert err["error_code"] == 2020 and err["details"]["status"] == "pending"
    missing = await api.post(f"/api/v1/tasks/{uuid.uuid4()}/rerun")
    assert missing.status == 404 and (await missing.json())["error_code"] == 2001
    bad = await api.post("/api/v1/tasks/nope/rerun")
    assert bad.status == 400 and (await bad.json())["error_code"] == 1000
    wrong = await api.post(f"/api/v1/tasks/{req['task_id']}/rerun", json={"task_id": "x"})
    assert wrong.status == 400 and "task_id" in (await wrong.json())["details"]
