"""Concurrency limits over HTTP on both stores: a dispatch's `concurrency`, strict 400s for
it, the task view and the waiting reason as documented, and a schedule that sets a key."""

from __future__ import annotations

import uuid
from typing import Any

from tests.helpers import eventually
from tests.http.conftest import Factory
from tests.http.test_schedules_api import Checked, checked

DISPATCH = "/api/v1/dispatch"


def body(**kw: Any) -> dict[str, Any]:
    return {"task_id": str(uuid.uuid4()), "work_type": "sleep", **kw}


async def task(check: Checked, task_id: str) -> Any:
    return await check("GET", f"/api/v1/status/{task_id}", "/api/v1/status/{task_id}", 200)


async def test_over_the_limit_a_task_waits_for_its_key_and_then_runs(make_api: Factory) -> None:
    check = await checked(make_api)
    limit = {"key": "db-1", "max_running": 1}
    first = body(parameters={"seconds": 0.3}, concurrency=limit)
    second = body(parameters={"seconds": 0}, concurrency=limit)
    await check("POST", DISPATCH, DISPATCH, 200, json=first)
    await check("POST", DISPATCH, DISPATCH, 200, json=second)
    waiting = await task(check, second["task_id"])
    assert (waiting["waiting_reason"], waiting["admitted_at"]) == ("concurrency_limit", None)
    assert (waiting["concurrency_key"], waiting["concurrency_max_running"]) == ("db-1", 1)
    listed = await check(
        "GET", "/api/v1/tasks?waiting_reason=concurrency_limit", "/api/v1/tasks", 200
    )
    assert [t["task_id"] for t in listed["items"]] == [second["task_id"]]
    by_key = await check("GET", "/api/v1/tasks?concurrency_key=db-1", "/api/v1/tasks", 200)
    assert [t["task_id"] for t in by_key["items"]] == [second["task_id"], first["task_id"]]
    for bad in ("", "x" * 201, "a%07b"):
        url = f"/api/v1/tasks?concurrency_key={bad}"
        answer = await check("GET", url, "/api/v1/tasks", 400)
        assert "concurrency_key" in answer["details"], bad
    done = await eventually(
        lambda: task(check, second["task_id"]), lambda t: t["status"] == "completed", timeout=5
    )
    ran_first = await task(check, first["task_id"])
    assert done["started_at"] >= ran_first["finished_at"]  # one after the other
    plain = await task(
        check, (await check("POST", DISPATCH, DISPATCH, 200, json=body()))["task_id"]
    )
    assert (plain["concurrency_key"], plain["admitted_at"]) == (None, None)


async def test_a_bad_concurrency_is_400_naming_the_field(make_api: Factory) -> None:
    check = await checked(make_api)
    for bad in (
        {"key": "", "max_running": 1},
        {"key": "x" * 201},
        {"key": "a\u0007b"},
        {"key": "db", "max_running": 0},
        {"key": "db", "max_running": 10_001},
        {"key": "db", "max_running": 1.5},
        {"key": "db", "max_running": "2"},
        {"max_running": 1},
        {"key": "db", "surprise": 1},
        "db-1",
    ):
        answer = await check("POST", DISPATCH, DISPATCH, 400, json=body(concurrency=bad))
        assert answer["error_code"] == 1000 and "concurrency" in answer["details"], bad
        assert answer["error_message"]


async def test_a_schedule_sets_a_key_for_its_runs(make_api: Factory) -> None:
    check = await checked(make_api)
    url = "/api/v1/schedules"
    backup = {
        "interval_s": 3600,
        "work_type": "sleep",
        "parameters": {"seconds": 30},
        "overlap": "allow_all",
        "concurrency": {"key": "db-1"},  # never two backups of db-1 at once
    }
    created = await check("POST", url, url, 201, json=backup)
    assert created["concurrency"] == {"key": "db-1", "max_running": 1}
    sid = created["schedule_id"]
    got = await check("GET", f"{url}/{sid}", url + "/{schedule_id}", 200)
    assert got["concurrency"] == {"key": "db-1", "max_running": 1}
    trigger = (f"{url}/{sid}/trigger", url + "/{schedule_id}/trigger", 200)
    first = await check("POST", *trigger)
    second = await check("POST", *trigger)
    assert first["concurrency_key"] == second["concurrency_key"] == "db-1"
    waiting = await task(check, second["task_id"])
    assert waiting["waiting_reason"] == "concurrency_limit"
    cancel = "/api/v1/cancel/{task_id}"
    await check("POST", cancel.format(task_id=first["task_id"]), cancel, 200)
    admitted = await eventually(
        lambda: task(check, second["task_id"]), lambda t: t["admitted_at"] is not None, timeout=5
    )
    assert admitted["waiting_reason"] != "concurrency_limit"
    await check("POST", cancel.format(task_id=second["task_id"]), cancel, 200)
    bad = {**backup, "concurrency": {"key": "db-1", "max_running": 0}}
    answer = await check("POST", url, url, 400, json=bad)
    assert "concurrency" in answer["details"]
