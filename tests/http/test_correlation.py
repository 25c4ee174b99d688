"""One id follows a call: X-Trace-Id / X-Request-Id become the dispatched task's trace_id /
request_id (the body wins), every answer carries both, and the access line names the task."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.http.conftest import Factory


def dispatch_body(**more: Any) -> dict[str, Any]:
    return {"task_id": str(uuid.uuid4()), "work_type": "echo", **more}


async def test_the_headers_become_the_tasks_ids(api: TestClient) -> None:
    trace, request = str(uuid.uuid4()), str(uuid.uuid4())
    body = dispatch_body()
    answer = await api.post(
        "/api/v1/dispatch", json=body, headers={"X-Trace-Id": trace, "X-Request-Id": request}
    )
    accepted = await answer.json()
    assert (accepted["trace_id"], accepted["request_id"]) == (trace, request)
    assert (answer.headers["X-Trace-Id"], answer.headers["X-Request-Id"]) == (trace, request)
    task = await (await api.get(f"/api/v1/status/{body['task_id']}")).json()
    assert (task["trace_id"], task["request_id"]) == (trace, request)
    listed = await (await api.get(f"/api/v1/tasks?trace_id={trace}")).json()
    assert [t["task_id"] for t in listed["items"]] == [body["task_id"]]


async def test_the_body_wins_over_the_headers(api: TestClient) -> None:
    mine, theirs = str(uuid.uuid4()), str(uuid.uuid4())
    mine_request = str(uuid.uuid4())
    body = dispatch_body(trace_id=mine, request_id=mine_request)
    headers = {"X-Trace-Id": theirs, "X-Request-Id": str(uuid.uuid4())}
    answer = await api.post("/api/v1/dispatch", json=body, headers=headers)
    accepted = await answer.json()
    assert (accepted["trace_id"], accepted["request_id"]) == (mine, mine_request)
    assert answer.headers["X-Trace-Id"] == mine  # the answer says the ids the task took


async def test_ids_that_are_not_uuids_are_ignored_never_echoed(api: TestClient) -> None:
    odd = "<script>alert(1)</script>"
    body = dispatch_body()
    answer = await api.post(
        "/api/v1/dispatch", json=body, headers={"X-Trace-Id": odd, "X-Request-Id": "1234"}
    )
    accepted = await answer.json()
    for key, header in (("trace_id", "X-Trace-Id"), ("request_id", "X-Request-Id")):
        uuid.UUID(accepted[key])
        assert answer.headers[header] == accepted[key]
    assert odd not in await answer.text()


async def test_every_answer_carries_both_ids(make_api: Factory) -> None:
    api, _ = await make_api(api_token="s3cret")
    trace = str(uuid.uuid4())
    for path, headers, status in (
        ("/health", {}, 200),
        ("/api/v1/tasks", {}, 401),
        (f"/api/v1/status/{uuid.uuid4()}", {"Authorization": "Bearer s3cret"}, 404),
        ("/api/v1/status/nope", {"Authorization": "Bearer s3cret"}, 400),
    ):
        answer = await api.get(path, headers={**headers, "X-Trace-Id": trace})
        assert answer.status == status
        assert answer.headers["X-Trace-Id"] == trace, path
        uuid.UUID(answer.headers["X-Request-Id"])
        if status >= 400:
            assert (await answer.json())["trace_id"] == trace
    fresh = await api.get("/health")
    uuid.UUID(fresh.headers["X-Trace-Id"])


async def test_a_repeated_dispatch_with_new_ids_is_the_same_task(api: TestClient) -> None:
    body = dispatch_body(parameters={"n": 1})
    first = await (
        await api.post("/api/v1/dispatch", json=body, headers={"X-Trace-Id": str(uuid.uuid4())})
    ).json()
    again = await api.post(
        "/api/v1/dispatch",
        json=body,
        headers={"X-Trace-Id": str(uuid.uuid4()), "X-Request-Id": str(uuid.uuid4())},
    )
    assert again.status == 200 and await again.json() == first


async def test_a_request_id_names_one_task(api: TestClient) -> None:
    request = str(uuid.uuid4())
    headers = {"X-Request-Id": request}
    first = dispatch_body()
    assert (await api.post("/api/v1/dispatch", json=first, headers=headers)).status == 200
    other = await api.post("/api/v1/dispatch", json=dispatch_body(), headers=headers)
    error = await other.json()
    assert other.status == 409 and error["error_code"] == 1003
    assert error["details"] == {"request_id": request, "task_id": first["task_id"]}
    in_body = await api.post("/api/v1/dispatch", json=dispatch_body(request_id=request))
    assert in_body.status == 409


async def test_the_access_line_names_the_task_and_the_ids(
    api: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    trace = str(uuid.uuid4())
    body = dispatch_body()
    with caplog.at_level(logging.INFO, logger="chiffon.access"):
        await api.post("/api/v1/dispatch", json=body, headers={"X-Trace-Id": trace})
        await api.get(f"/api/v1/status/{body['task_id']}", headers={"X-Trace-Id": trace})
        await api.get("/api/v1/status/not-an-id")
    lines = [r for r in caplog.records if r.name == "chiffon.access"]
    assert [getattr(r, "task_id", None) for r in lines] == [body["task_id"]] * 2 + [None]
    assert [getattr(r, "trace_id", None) for r in lines][:2] == [trace, trace]
