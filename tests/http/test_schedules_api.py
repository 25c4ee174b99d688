"""/api/v1/schedules on both stores: every use case, strict validation, and each answer
validated against the OpenAPI document."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from openapi_schema_validator import OAS30Validator

from chiffon import schedule_service
from tests.helpers import eventually
from tests.http.conftest import Factory

ONE = "/api/v1/schedules/{schedule_id}"


class Checked:
    """Calls the API and validates each answer against the document's schema for it."""

    def __init__(self, client: TestClient, spec: dict[str, Any]) -> None:
        self.client = client
        self.spec = spec

    async def __call__(
        self, method: str, path: str, template: str, code: int, **kwargs: Any
    ) -> Any:
        answer = await self.client.request(method, path, **kwargs)
        assert answer.status == code, await answer.text()
        if code == 204:
            return None
        body = await answer.json()
        documented = self.spec["paths"][template][method.lower()]["responses"][str(code)]
        schema = {**documented["content"]["application/json"]["schema"]}
        OAS30Validator({**schema, "components": self.spec["components"]}).validate(body)
        return body


async def checked(make_api: Factory) -> Checked:
    client, _ = await make_api()
    spec = await (await client.get("/api/openapi.json")).json()
    return Checked(client, spec)


async def test_create_get_list_update_pause_resume_delete(make_api: Factory) -> None:
    check = await checked(make_api)
    body = {
        "cron": "0 3 * * *",
        "timezone": "Europe/Paris",
        "work_type": "echo",
        "parameters": {"text": "backup db-1"},
        "priority": 4,
        "timeout_s": 600,
        "retry": {"max_attempts": 2, "on": ["failed"]},
        "overlap": "buffer_one",
        "catch_up": "run_all",
        "catch_up_window_s": 3600,
        "note": "nightly backup",
    }
    created = await check("POST", "/api/v1/schedules", "/api/v1/schedules", 201, json=body)
    sid = created["schedule_id"]
    assert created["next_fire_at"].endswith(("T01:00:00+00:00", "T02:00:00+00:00"))
    assert (created["overlap"], created["retry"]["on"]) == ("buffer_one", ["failed"])
    got = await check("GET", f"/api/v1/schedules/{sid}", ONE, 200)
    assert len(got["upcoming"]) == 5 and got["last_runs"] == []
    listed = await check("GET", "/api/v1/schedules", "/api/v1/schedules", 200)
    assert [s["schedule_id"] for s in listed["items"]] == [sid]
    changed = await check(
        "PUT", f"/api/v1/schedules/{sid}", ONE, 200, json={"interval_s": 30, "work_type": "echo"}
    )
    assert (changed["interval_s"], changed["cron"], changed["overlap"]) == (30.0, None, "skip")
    paused = await check("POST", f"/api/v1/schedules/{sid}/pause", ONE + "/pause", 200)
    assert paused["paused"] is True
    assert (await check("GET", f"/api/v1/schedules/{sid}", ONE, 200))["upcoming"] == []
    resumed = await check("POST", f"/api/v1/schedules/{sid}/resume", ONE + "/resume", 200)
    assert resumed["paused"] is False
    await check("DELETE", f"/api/v1/schedules/{sid}", ONE, 204)
    await check("GET", f"/api/v1/schedules/{sid}", ONE, 404)
    await check("DELETE", f"/api/v1/schedules/{sid}", ONE, 404)


async def test_trigger_dispatches_a_task_listed_by_schedule_id(make_api: Factory) -> None:
    check = await checked(make_api)
    body = {"interval_s": 3600, "work_type": "echo", "parameters": {"text": "now"}}
    sid = (await check("POST", "/api/v1/schedules", "/api/v1/schedules", 201, json=body))[
        "schedule_id"
    ]
    task = await check("POST", f"/api/v1/schedules/{sid}/trigger", ONE + "/trigger", 200)
    assert task["schedule_id"] == sid and task["scheduled_at"] is not None
    page = await check("GET", f"/api/v1/tasks?schedule_id={sid}", "/api/v1/tasks", 200)
    assert [t["task_id"] for t in page["items"]] == [task["task_id"]]

    async def detail() -> Any:
        return await check("GET", f"/api/v1/schedules/{sid}", ONE, 200)

    done = await eventually(detail, lambda d: d["last_runs"][0]["status"] == "completed")
    assert done["last_task_id"] == task["task_id"]
    other = f"/api/v1/tasks?schedule_id={uuid.uuid4()}"
    assert (await check("GET", other, "/api/v1/tasks", 200))["items"] == []


async def test_invalid_bodies_are_400_naming_each_field(make_api: Factory) -> None:
    check = await checked(make_api)
    url = "/api/v1/schedules"
    cases: list[tuple[dict[str, Any], int, set[str]]] = [
        ({"work_type": "echo"}, 1000, {"cron"}),
        ({"cron": "* * *", "work_type": "echo"}, 1000, {"cron"}),
        ({"cron": "0 0 * * *", "timezone": "Mars/Base", "work_type": "echo"}, 1000, {"timezone"}),
        ({"interval_s": 0.5, "work_type": "echo"}, 1000, {"interval_s"}),
        ({"interval_s": 60, "work_type": "echo", "overlap": "sometimes"}, 1000, {"overlap"}),
        (
            {"interval_s": 60, "work_type": "echo", "catch_up_window_s": 5},
            1000,
            {"catch_up_window_s"},
        ),
        ({"interval_s": 60, "work_type": "echo", "max_runs": 0}, 1000, {"max_runs"}),
        ({"interval_s": 60, "work_type": "echo", "surprise": 1}, 1000, {"surprise"}),
        ({"interval_s": 60, "work_type": "no_such_work"}, 1001, {"work_type"}),
    ]
    for body, code, named in cases:
        answer = await check("POST", url, url, 400, json=body)
        assert answer["error_code"] == code, body
        assert named <= set(answer.get("details") or {}), (body, answer)
    assert (await check("GET", url, url, 200))["items"] == []
    await check("GET", f"{url}/not-a-uuid", ONE, 400)
    await check("POST", f"{url}/{uuid.uuid4()}/trigger", ONE + "/trigger", 404)


async def test_the_number_of_schedules_is_bounded_so_a_list_holds_them_all(
    make_api: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schedule_service, "MAX_SCHEDULES", 3)
    check = await checked(make_api)
    body = {"interval_s": 3600, "work_type": "echo"}
    made = [
        await check("POST", "/api/v1/schedules", "/api/v1/schedules", 201, json=body)
        for _ in range(3)
    ]
    refused = await check("POST", "/api/v1/schedules", "/api/v1/schedules", 409, json=body)
    assert refused["error_code"] == 2032 and refused["details"] == {"max_schedules": 3}
    listed = await check("GET", "/api/v1/schedules", "/api/v1/schedules", 200)
    assert [s["schedule_id"] for s in listed["items"]] == [s["schedule_id"] for s in made]
    one = made[0]["schedule_id"]
    await check("DELETE", f"/api/v1/schedules/{one}", ONE, 204)
    await check("POST", "/api/v1/schedules", "/api/v1/schedules", 201, json=body)  # room again
