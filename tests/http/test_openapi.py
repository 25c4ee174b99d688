"""The OpenAPI document says what the API enforces: the bearer scheme and its 401s, UUID
formats, a required dispatch body, JSON-only POSTs."""

from __future__ import annotations

from typing import Any

from tests.http.conftest import Factory
from tests.http.test_query_and_cancel_api import get_json

GUARDED = [
    ("post", "/api/v1/dispatch"),
    ("get", "/api/v1/status/{task_id}"),
    ("get", "/api/v1/tasks"),
    ("get", "/api/v1/agents"),
    ("post", "/api/v1/cancel/{task_id}"),
    ("get", "/ready"),
]


async def test_the_document_shows_the_bearer_scheme_and_its_401s(make_api: Factory) -> None:
    client, _ = await make_api(api_token="s3cret")
    answer = await client.get("/api/docs/swagger.json", headers={"Authorization": "Bearer s3cret"})
    spec: dict[str, Any] = await answer.json()
    assert spec["securityDefinitions"]["bearer"]["in"] == "header"
    assert spec["security"] == [{"bearer": []}]
    assert spec["paths"]["/health"]["get"]["security"] == []
    for method, path in GUARDED:
        assert "401" in spec["paths"][path][method]["responses"], (method, path)
    for method, path in (("post", "/api/v1/dispatch"), ("post", "/api/v1/cancel/{task_id}")):
        operation = spec["paths"][path][method]
        assert "415" in operation["responses"] and operation["consumes"] == ["application/json"]
    body = spec["paths"]["/api/v1/dispatch"]["post"]["parameters"][0]
    assert (body["in"], body["required"]) == ("body", True)
    for path in ("/api/v1/status/{task_id}", "/api/v1/cancel/{task_id}"):
        (param,) = [p for p in next(iter(spec["paths"][path].values()))["parameters"]]
        assert (param["in"], param["format"], param["required"]) == ("path", "uuid", True)


async def test_without_a_token_nothing_demands_one(make_api: Factory) -> None:
    client, _ = await make_api()
    spec = await get_json(client, "/api/docs/swagger.json")
    assert spec["security"] == [] and "bearer" in spec["securityDefinitions"]
