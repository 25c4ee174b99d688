import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.helpers import eventually


def body(**kw: Any) -> dict[str, Any]:
    return {"task_id": str(uuid.uuid4()), "work_type": "echo", **kw}


async def status_of(api: TestClient, task_id: str) -> dict[str, Any]:
    resp = await api.get(f"/api/v1/status/{task_id}")
    assert resp.status == 200
    data: dict[str, Any] = await resp.json()
    return data


async def test_dispatch_answers_pending_and_the_echo_completes(api: TestClient) -> None:
    req = body(parameters={"hello": "world"}, priority=5)
    resp = await api.post("/api/v1/dispatch", json=req)
    assert resp.status == 200
    answer = await resp.json()
    assert answer["task_id"] == req["task_id"] and answer["status"] == "pending"
    uuid.UUID(answer["trace_id"]), uuid.UUID(answer["request_id"])
    task = await eventually(
        lambda: status_of(api, req["task_id"]), lambda t: t["status"] == "completed", timeout=1.0
    )
    assert task["result"] == {"hello": "world"}
    assert task["trace_id"] == answer["trace_id"] and task["request_id"] == answer["request_id"]
    expected = {
        "task_id",
        "status",
        "work_type",
        "agent_type",
        "priority",
        "parameters",
        "progress_percent",
        "progress_message",
        "output",
        "result",
        "error_message",
        "exit_code",
        "duration_ms",
        "attempt",
        "agent_id",
        "trace_id",
        "request_id",
        "created_at",
        "updated_at",
    }
    assert expected <= set(task)
    assert (task["priority"], task["agent_type"], task["attempt"]) == (5, "demo", 1)


async def test_caller_trace_id_is_kept(api: TestClient) -> None:
    trace = str(uuid.uuid4())
    resp = await api.post("/api/v1/dispatch", json=body(trace_id=trace))
    assert (await resp.json())["trace_id"] == trace


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"work_type": "echo"}, "task_id"),
        ({"task_id": "not-a-uuid", "work_type": "echo"}, "task_id"),
        ({"task_id": str(uuid.uuid4())}, "work_type"),
        (body(work_type=""), "work_type"),
        (body(work_type=7), "work_type"),
        (body(priority=0), "priority"),
        (body(priority=6), "priority"),
        (body(priority="3"), "priority"),
        (body(priority=2.5), "priority"),
        (body(parameters=[1, 2]), "parameters"),
        (body(parameters="x"), "parameters"),
        (body(timeout_s=-1), "timeout_s"),
        (body(timeout_s="10"), "timeout_s"),
        (body(colour="red"), "colour"),
    ],
)
async def test_invalid_bodies_are_400_naming_the_field(
    api: TestClient, payload: dict[str, Any], field: str
) -> None:
    resp = await api.post("/api/v1/dispatch", json=payload)
    assert resp.status == 400
    err = await resp.json()
    assert err["error_code"] == 1000
    assert field in err["details"] and field in err["error_message"]
    assert set(err) == {"error_code", "error_message", "trace_id", "details"}


@pytest.mark.parametrize("raw", [b"{bad json", b"[1, 2]", b"", b"null", b"\xff\xfe"])
async def test_malformed_json_is_400(api: TestClient, raw: bytes) -> None:
    resp = await api.post(
        "/api/v1/dispatch", data=raw, headers={"Content-Type": "application/json"}
    )
    assert resp.status == 400
    assert (await resp.json())["error_code"] == 1000


async def test_unknown_work_type_is_400_1001_and_stores_nothing(api: TestClient) -> None:
    req = body(work_type="teleport")
    resp = await api.post("/api/v1/dispatch", json=req)
    assert resp.status == 400
    err = await resp.json()
    assert err["error_code"] == 1001 and "teleport" in err["error_message"]
    assert (await api.get(f"/api/v1/status/{req['task_id']}")).status == 404


async def test_same_request_twice_gives_the_first_answer(api: TestClient) -> None:
    req = body(parameters={"n": 1})
    first = await (await api.post("/api/v1/dispatch", json=req)).json()
    again = await api.post("/api/v1/dispatch", json=req)
    assert again.status == 200
    assert await again.json() == first
    listed = await (await api.get("/api/v1/tasks")).json()
    assert [t["task_id"] for t in listed["items"]] == [req["task_id"]]


async def test_a_reused_task_id_with_another_request_is_409(api: TestClient) -> None:
    req = body(parameters={"n": 1})
    await api.post("/api/v1/dispatch", json=req)
    resp = await api.post("/api/v1/dispatch", json={**req, "parameters": {"n": 2}})
    assert resp.status == 409
    assert (await resp.json())["error_code"] == 1003


async def test_too_large_bodies_are_413_1004(api: TestClient) -> None:
    resp = await api.post("/api/v1/dispatch", json=body(parameters={"b": "x" * 300_000}))
    assert resp.status == 413 and (await resp.json())["error_code"] == 1004
    resp = await api.post("/api/v1/dispatch", json=body(parameters={"b": "x" * 2_000_000}))
    assert resp.status == 413 and (await resp.json())["error_code"] == 1004


async def test_sleep_shows_running_with_progress(api: TestClient) -> None:
    req = body(work_type="sleep", parameters={"seconds": 2, "step_s": 0.1})
    await api.post("/api/v1/dispatch", json=req)
    task = await eventually(
        lambda: status_of(api, req["task_id"]),
        lambda t: (t["progress_percent"] or 0) > 0,
        timeout=2.0,
    )
    assert task["status"] == "running" and task["agent_id"] is not None
    assert "slept" in task["progress_message"]


async def test_fail_reports_error_and_exit_code(api: TestClient) -> None:
    req = body(work_type="fail", parameters={"message": "disk full", "exit_code": 28})
    await api.post("/api/v1/dispatch", json=req)
    task = await eventually(
        lambda: status_of(api, req["task_id"]), lambda t: t["status"] == "failed"
    )
    assert (task["error_message"], task["exit_code"]) == ("disk full", 28)


async def test_a_task_past_its_timeout_is_timed_out(api: TestClient) -> None:
    req = body(work_type="ansible", timeout_s=0.3)  # no infra agent: it stays pending
    await api.post("/api/v1/dispatch", json=req)
    task = await eventually(
        lambda: status_of(api, req["task_id"]), lambda t: t["status"] == "timed_out", timeout=3.0
    )
    assert "timed out" in task["error_message"]


async def test_reject_admission_refuses_work_no_live_agent_can_take(api: TestClient) -> None:
    """on_no_agent: reject is 409/3001 with the agent type, and nothing is stored."""
    task_id = str(uuid.uuid4())
    body = {"task_id": task_id, "work_type": "research", "on_no_agent": "reject"}
    refused = await api.post("/api/v1/dispatch", json=body)
    answer = await refused.json()
    assert (refused.status, answer["error_code"]) == (409, 3001), answer
    assert answer["details"] == {"agent_type": "research", "work_type": "research"}
    assert (await api.get(f"/api/v1/status/{task_id}")).status == 404
    queued = await api.post("/api/v1/dispatch", json={**body, "on_no_agent": "queue"})
    assert queued.status == 200  # the default: stored, it runs when an agent comes

    async def echo_admitted() -> int:
        again = {"task_id": str(uuid.uuid4()), "work_type": "echo", "on_no_agent": "reject"}
        return (await api.post("/api/v1/dispatch", json=again)).status

    assert await eventually(echo_admitted, lambda status: status == 200) == 200  # demo agent
    bad = await api.post("/api/v1/dispatch", json={**body, "on_no_agent": "maybe"})
    assert (bad.status, (await bad.json())["details"].keys()) == (400, {"on_no_agent"})


async def assert_no_violations(api: TestClient, settled: bool = False) -> None:
    """The history checker over everything the test made: every promise kept."""
    resp = await api.get("/api/v1/audit", params={"settled": "true" if settled else "false"})
    assert resp.status == 200, await resp.text()
    report = await resp.json()
    assert report["violations"] == [], report["violations"]


@pytest.mark.parametrize("later", [False, True])
async def test_the_dispatch_answer_is_the_json_it_always_was(api: TestClient, later: bool) -> None:
    """The answer is written as text: byte for byte what json.dumps gave of its fields."""
    start = (datetime.now(UTC) + timedelta(hours=1)).isoformat() if later else None
    resp = await api.post("/api/v1/dispatch", json=body(not_before=start))
    assert resp.status == 200 and resp.content_type == "application/json"
    assert resp.charset == "utf-8"
    text = await resp.text()
    answer = json.loads(text)
    assert list(answer) == ["task_id", "trace_id", "request_id", "status", "not_before"]
    assert text == json.dumps(answer)
    assert answer["not_before"] == start
