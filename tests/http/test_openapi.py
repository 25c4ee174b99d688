"""The OpenAPI 3 document: valid, complete, and true to what the API answers (real answers are
validated against the document's own schemas, so a nullable field the document forgets fails
here, not in a user's generated client)."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp.test_utils import TestClient
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

from tests.helpers import eventually
from tests.http.conftest import Factory

OPERATIONS = {
    ("post", "/api/v1/dispatch"): "dispatchTask",
    ("get", "/api/v1/status/{task_id}"): "getTaskStatus",
    ("get", "/api/v1/tasks"): "listTasks",
    ("post", "/api/v1/cancel/{task_id}"): "cancelTask",
    ("get", "/api/v1/tasks/{task_id}/events"): "getTaskEvents",
    ("post", "/api/v1/tasks/{task_id}/rerun"): "rerunTask",
    ("get", "/api/v1/audit"): "auditTasks",
    ("get", "/api/v1/stats"): "getStats",
    ("get", "/api/v1/agents"): "listAgents",
    ("get", "/api/v1/work-types"): "listWorkTypes",
    ("post", "/api/v1/schedules"): "createSchedule",
    ("get", "/api/v1/schedules"): "listSchedules",
    ("get", "/api/v1/schedules/{schedule_id}"): "getSchedule",
    ("put", "/api/v1/schedules/{schedule_id}"): "updateSchedule",
    ("delete", "/api/v1/schedules/{schedule_id}"): "deleteSchedule",
    ("post", "/api/v1/schedules/{schedule_id}/pause"): "pauseSchedule",
    ("post", "/api/v1/schedules/{schedule_id}/resume"): "resumeSchedule",
    ("post", "/api/v1/schedules/{schedule_id}/trigger"): "triggerSchedule",
    ("get", "/api/v1/ws"): "streamChanges",
    ("get", "/health"): "getHealth",
    ("get", "/ready"): "getReadiness",
    ("get", "/metrics"): "getMetrics",
}
FREE_FORM = [("DispatchRequest", "parameters"), ("Task", "parameters"), ("Agent", "resources")]
TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def get_json(client: TestClient, url: str, headers: dict[str, str] | None = None) -> Any:
    answer = await client.get(url, headers=headers)
    assert answer.status == 200, await answer.text()
    return await answer.json()


async def test_the_document_is_valid_openapi_3_with_an_operation_id_each(
    make_api: Factory,
) -> None:
    for token in (None, TOKEN):
        client, _ = await make_api(api_token=token)
        spec = await get_json(client, "/api/openapi.json", headers=AUTH)
        validate(spec)  # openapi-spec-validator: raises on any error
        assert spec["openapi"].startswith("3.0")
        found = {
            (m, p): op["operationId"] for p, ops in spec["paths"].items() for m, op in ops.items()
        }
        assert found == OPERATIONS  # every operation, named for what it does; no HEAD twins
        assert await get_json(client, "/api/docs/swagger.json", headers=AUTH) == spec


async def test_the_bearer_scheme_guards_every_operation_but_health(make_api: Factory) -> None:
    client, _ = await make_api(api_token=TOKEN)
    spec = await get_json(client, "/api/openapi.json", headers=AUTH)
    scheme = spec["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert spec["security"] == [{"bearer": []}]
    assert spec["paths"]["/health"]["get"]["security"] == []
    for (method, path), _ in OPERATIONS.items():
        if path != "/health":
            assert "401" in spec["paths"][path][method]["responses"], (method, path)
    open_client, _ = await make_api()
    open_spec = await get_json(open_client, "/api/openapi.json")
    assert open_spec["security"] == [] and "bearer" in open_spec["components"]["securitySchemes"]


async def test_every_error_answer_is_the_error_schema(api: TestClient) -> None:
    spec = await get_json(api, "/api/openapi.json")
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for code, answer in operation["responses"].items():
                if code.startswith(("4", "5")) and (path, code) != ("/ready", "503"):
                    schema = answer["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, code)
                    assert answer["description"], (method, path, code)
    codes = spec["components"]["schemas"]["Error"]["properties"]["error_code"]["description"]
    for code in (1000, 1001, 1003, 1004, 1005, 2001, 2002, 3001, 4010, 5030):
        assert str(code) in codes


async def test_defaults_satisfy_their_own_schema_and_free_forms_take_anything(
    api: TestClient,
) -> None:
    spec = await get_json(api, "/api/openapi.json")
    schemas = spec["components"]["schemas"]
    for name, schema in schemas.items():
        for field, prop in schema.get("properties", {}).items():
            if "default" in prop:
                own = {k: v for k, v in prop.items() if k != "default"}
                own["components"] = spec["components"]
                assert OAS30Validator(own).is_valid(prop["default"]), (name, field)
    for name, field in FREE_FORM:
        assert schemas[name]["properties"][field]["additionalProperties"] is True
    body = spec["paths"]["/api/v1/dispatch"]["post"]["requestBody"]
    assert body["required"] is True
    cancel = spec["paths"]["/api/v1/cancel/{task_id}"]["post"]
    assert "requestBody" not in cancel  # it takes no body


async def test_real_answers_match_the_document(make_api: Factory) -> None:
    """Every kind of answer, with nulls and without, validated against its documented schema."""
    client, _ = await make_api()
    spec = await get_json(client, "/api/openapi.json")

    async def check(method: str, path: str, template: str, code: int, **kwargs: Any) -> Any:
        answer = await client.request(method, path, **kwargs)
        assert answer.status == code, await answer.text()
        body = await answer.json()
        documented = spec["paths"][template][method.lower()]["responses"][str(code)]
        schema = documented["content"]["application/json"]["schema"]
        schema = {**schema, "components": spec["components"]}
        OAS30Validator(schema).validate(body)
        return body

    ids = [str(uuid.uuid4()) for _ in range(3)]
    bodies = [
        {"task_id": ids[0], "work_type": "echo", "parameters": {"a": [1, {"b": None}]}},
        {"task_id": ids[1], "work_type": "sleep", "parameters": {"seconds": 30}, "delay_s": 60},
        {"task_id": ids[2], "work_type": "fail", "retry": {"max_attempts": 1}, "timeout_s": 5},
    ]
    for body in bodies:
        await check("POST", "/api/v1/dispatch", "/api/v1/dispatch", 200, json=body)

    async def statuses() -> list[str]:
        return [(await get_json(client, f"/api/v1/status/{i}"))["status"] for i in ids]

    await eventually(statuses, lambda s: s[0] == "completed" and s[2] == "failed")
    for task_id in ids:
        await check("GET", f"/api/v1/status/{task_id}", "/api/v1/status/{task_id}", 200)
        await check("GET", f"/api/v1/tasks/{task_id}/events", "/api/v1/tasks/{task_id}/events", 200)
    await check("GET", "/api/v1/tasks?limit=2", "/api/v1/tasks", 200)
    searched = "/api/v1/tasks?q=b&id=0&created_after=2026-01-01T00:00:00Z&agent=" + ids[0]
    await check("GET", searched, "/api/v1/tasks", 200)
    await check("GET", "/api/v1/tasks?id=xyz", "/api/v1/tasks", 400)
    await check("GET", "/api/v1/stats?window=10m&step=1m", "/api/v1/stats", 200)
    await check("GET", "/api/v1/stats?window=30d", "/api/v1/stats", 400)
    rerun = "/api/v1/tasks/{task_id}/rerun"
    again = await check("POST", f"/api/v1/tasks/{ids[0]}/rerun", rerun, 200)
    assert again["rerun_of"] == ids[0]
    await check("POST", f"/api/v1/tasks/{ids[1]}/rerun", rerun, 409)  # delayed: pending
    await check("POST", f"/api/v1/tasks/{uuid.uuid4()}/rerun", rerun, 404)
    await check("GET", "/api/v1/agents", "/api/v1/agents", 200)
    await check("GET", "/api/v1/work-types", "/api/v1/work-types", 200)
    await check("POST", f"/api/v1/cancel/{ids[1]}", "/api/v1/cancel/{task_id}", 200)
    await check("POST", f"/api/v1/cancel/{ids[1]}", "/api/v1/cancel/{task_id}", 400)
    await check("GET", f"/api/v1/status/{uuid.uuid4()}", "/api/v1/status/{task_id}", 404)
    await check("POST", "/api/v1/dispatch", "/api/v1/dispatch", 400, json={"task_id": 1})
    audited = await check("GET", "/api/v1/audit", "/api/v1/audit", 200)
    assert audited["violations"] == [] and audited["tasks_checked"] == 4
    await check("GET", "/api/v1/audit?since=yesterday", "/api/v1/audit", 400)
    await check("GET", "/health", "/health", 200)
    await check("GET", "/ready", "/ready", 200)
