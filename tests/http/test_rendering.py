"""A stored task that cannot be shown as JSON never breaks status or listing."""

from __future__ import annotations

from typing import Any

from adapters.http.rendering import UNSHOWABLE
from chiffon.changes import dispatched
from composition_root import Settings, build_container, wire_orchestrator
from tests.contract.store.builders import make_task
from tests.http.conftest import HardenedTestServer


async def test_unshowable_tasks_are_shown_with_a_placeholder(aiohttp_client: Any) -> None:
    wired = wire_orchestrator(build_container(Settings(demo_agent=False)))
    client = await aiohttp_client(HardenedTestServer(wired.app))
    # Written behind the service's back, as an old row or a bug might have left them.
    fine = make_task(created_s=0)
    nan = make_task(created_s=1, parameters={"x": float("nan")})
    deep = make_task(created_s=2, result={"not json": {1, 2}})
    for task in (fine, nan, deep):
        await wired.tasks.create(task, dispatched(task), [])
    page = await client.get("/api/v1/tasks")
    assert page.status == 200
    items = {i["task_id"]: i for i in (await page.json())["items"]}
    assert items[str(fine.task_id)]["parameters"] == fine.parameters
    assert items[str(nan.task_id)]["parameters"] == UNSHOWABLE
    assert items[str(deep.task_id)]["result"] == UNSHOWABLE
    one = await client.get(f"/api/v1/status/{nan.task_id}")
    assert one.status == 200 and (await one.json())["parameters"] == UNSHOWABLE
