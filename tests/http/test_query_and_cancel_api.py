import asyncio
import uuid
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.helpers import eventually
from tests.http.conftest import Factory
from tests.http.test_dispatch_api import body, status_of


async def dispatch(api: TestClient, **kw: Any) -> str:
    req = body(**kw)
    resp = await api.post("/api/v1/dispatch", json=req)
    assert resp.status == 200, await resp.text()
    return str(req["task_id"])


async def get_json(api: TestClient, url: str, status: int = 200) -> Any:
    resp = await api.get(url)
    assert resp.status == status, await resp.text()
    return await resp.json()


async def test_status_errors(api: TestClient) -> None:
    err = await get_json(api, f"/api/v1/status/{uuid.uuid4()}", 404)
    assert err["error_code"] == 2001
    err = await get_json(api, "/api/v1/status/not-a-uuid", 400)
    assert err["error_code"] == 1000 and "task_id" in err["details"]


async def test_tasks_are_listed_newest_first_with_cursor_pages(api: TestClient) -> None:
    ids = [await dispatch(api, work_type="ansible", parameters={"i": i}) for i in range(7)]
    seen: list[str] = []
    url = "/api/v1/tasks?limit=3"
    pages = 0
    while True:
        page = await get_json(api, url)
        pages += 1
        seen += [t["task_id"] for t in page["items"]]
        if page["next_cursor"] is None:
            break
        # A newer task arriving between pages must not shift the pages.
        await dispatch(api, work_type="ansible", parameters={"late": pages})
        url = f"/api/v1/tasks?limit=3&cursor={page['next_cursor']}"
    assert seen == list(reversed(ids)) and pages == 3


async def test_tasks_filters(api: TestClient) -> None:
    a = await dispatch(api, work_type="ansible")
    b = await dispatch(api, work_type="research")
    await api.post(f"/api/v1/cancel/{b}", json={})
    by_type = await get_json(api, "/api/v1/tasks?work_type=ansible")
    assert [t["task_id"] for t in by_type["items"]] == [a]
    by_agent = await get_json(api, "/api/v1/tasks?agent_type=research")
    assert [t["task_id"] for t in by_agent["items"]] == [b]
    by_status = await get_json(api, "/api/v1/tasks?status=cancelled")
    assert [t["task_id"] for t in by_status["items"]] == [b]
    assert (await get_json(api, "/api/v1/tasks?status=running"))["items"] == []


@pytest.mark.parametrize(
    "query",
    [
        "status=nope",
        "limit=0",
        "limit=501",
        "limit=x",
        "cursor=%%%",
        "colour=red",
        "cursor=bm90IGEgY3Vyc29y",
        "limit=1&limit=2",
        "trace_id=12",
    ],
)
async def test_bad_task_queries_are_400(api: TestClient, query: str) -> None:
    err = await get_json(api, f"/api/v1/tasks?{query}", 400)
    assert err["error_code"] == 1000 and err["details"]


async def test_agents_lists_the_demo_agent_with_resources(api: TestClient) -> None:
    agents = await eventually(lambda: get_json(api, "/api/v1/agents"), lambda a: len(a) == 1)
    agent = agents[0]
    assert (agent["agent_type"], agent["status"]) == ("demo", "online")
    assert {"cpu_percent", "memory_percent", "load"} <= set(agent["resources"])
    assert set(agent["capabilities"]) == {"echo", "sleep", "fail"}
    assert agent["max_concurrency"] == 4 and agent["running_tasks"] == []
    assert await get_json(api, "/api/v1/agents?agent_type=demo&status=online") == agents
    assert await get_json(api, "/api/v1/agents?agent_type=infra") == []
    assert await get_json(api, "/api/v1/agents?status=offline") == []
    err = await get_json(api, "/api/v1/agents?status=asleep", 400)
    assert err["error_code"] == 1000 and "status" in err["details"]


async def test_cancel_pending_running_finished_and_missing(api: TestClient) -> None:
    pending = await dispatch(api, work_type="ansible")
    resp = await api.post(f"/api/v1/cancel/{pending}", json={})
    assert resp.status == 200
    answer = {"task_id": pending, "status": "cancelled", "cancel_outcome": "not_started"}
    assert await resp.json() == answer
    again = await api.post(f"/api/v1/cancel/{pending}", json={})
    assert again.status == 400 and (await again.json())["error_code"] == 2002

    running = await dispatch(api, work_type="sleep", parameters={"seconds": 30})
    await eventually(lambda: status_of(api, running), lambda t: t["status"] == "running")
    stopping = await api.post(f"/api/v1/cancel/{running}", json={})
    assert (await stopping.json())["cancel_outcome"] == "requested"
    stopped = await eventually(
        lambda: status_of(api, running), lambda t: t["cancel_outcome"] == "stopped"
    )
    assert stopped["status"] == "cancelled"  # the agent confirmed its handler stopped
    agents = await eventually(
        lambda: get_json(api, "/api/v1/agents"),
        lambda a: a and a[0]["running_tasks"] == [],
        timeout=2.0,
    )
    assert agents[0]["status"] == "online"
    await asyncio.sleep(0.1)
    assert (await status_of(api, running))["status"] == "cancelled"

    done = await dispatch(api)
    await eventually(lambda: status_of(api, done), lambda t: t["status"] == "completed")
    resp = await api.post(f"/api/v1/cancel/{done}", json={})
    assert resp.status == 400 and (await resp.json())["error_code"] == 2002
    resp = await api.post(f"/api/v1/cancel/{uuid.uuid4()}", json={})
    assert resp.status == 404 and (await resp.json())["error_code"] == 2001
    resp = await api.post("/api/v1/cancel/123", json={})
    assert resp.status == 400 and (await resp.json())["error_code"] == 1000


async def test_an_agent_that_stops_beating_goes_offline(make_api: Factory) -> None:
    client, wired = await make_api()
    agents = await eventually(lambda: get_json(client, "/api/v1/agents"), lambda a: len(a) == 1)
    assert wired.demo_agent is not None
    wired.demo_agent._bus.kill()  # type: ignore[attr-defined]  # a crash: no goodbye
    gone = await eventually(
        lambda: get_json(client, "/api/v1/agents"),
        lambda a: a[0]["status"] == "offline",
        timeout=3.0,
    )
    assert gone[0]["agent_id"] == agents[0]["agent_id"]


async def test_health_ready_and_docs(api: TestClient) -> None:
    assert await get_json(api, "/health") == {"status": "ok", "checks": {}}
    ready = await get_json(api, "/ready")
    assert ready == {"status": "ok", "checks": {"store": "ok", "bus": "ok"}}
    spec = await get_json(api, "/api/openapi.json")
    for path in (
        "/api/v1/dispatch",
        "/api/v1/status/{task_id}",
        "/api/v1/tasks",
        "/api/v1/agents",
        "/api/v1/cancel/{task_id}",
    ):
        assert path in spec["paths"]
    body = spec["paths"]["/api/v1/dispatch"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["$ref"].endswith("/DispatchRequest")
    page = await api.get("/api/docs")
    text = await page.text()
    assert page.status == 200 and "swagger" in text.lower() and "/api/docs/init.js" in text
    init = await (await api.get("/api/docs/init.js")).text()
    assert 'url: "/api/openapi.json"' in init and "queryConfigEnabled: false" in init


async def test_bearer_token_guards_every_route_but_health(make_api: Factory) -> None:
    client, _ = await make_api(api_token="s3cret")
    assert (await client.get("/health")).status == 200
    resp = await client.get("/api/v1/tasks")
    assert resp.status == 401 and (await resp.json())["error_code"] == 4010
    wrong = await client.get("/api/v1/tasks", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401
    ok = await client.get("/api/v1/tasks", headers={"Authorization": "Bearer s3cret"})
    assert ok.status == 200
