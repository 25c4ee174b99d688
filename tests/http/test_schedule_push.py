"""Schedule changes pushed over the WebSocket (topic `schedules`), on both stores: each change
of the API (created, updated, paused, resumed, triggered, deleted) and of the scheduler (fired)
reaches a subscriber as one `schedule.updated` frame, the schedule as the API shows it."""

from __future__ import annotations

from typing import Any

from aiohttp import ClientWebSocketResponse
from aiohttp.test_utils import TestClient

from tests.http.test_websocket import PATH, events_until, frame, pong_next, subscribe

URL = "/api/v1/schedules"


async def call(api: TestClient, method: str, path: str, code: int, **kw: Any) -> Any:
    answer = await api.request(method, path, **kw)
    assert answer.status == code, await answer.text()
    return None if code == 204 else await answer.json()


async def next_change(ws: ClientWebSocketResponse) -> dict[str, Any]:
    got = await frame(ws)
    assert got["event"] == "schedule.updated", got
    return got


async def test_every_change_of_a_schedule_is_pushed_once(api: TestClient) -> None:
    body = {"interval_s": 3600, "work_type": "echo", "note": "hourly"}
    before = await call(api, "POST", URL, 201, json=body)
    async with api.ws_connect(PATH) as ws:
        snap = await subscribe(ws, topic="schedules")
        assert snap["data"] == [before]  # the schedules as the API lists them
        created = await call(api, "POST", URL, 201, json={**body, "note": "second"})
        sid = created["schedule_id"]
        one = f"{URL}/{sid}"
        pushed = await next_change(ws)
        assert (pushed["change"], pushed["data"]) == ("created", created)
        assert pushed["seq"] == 1
        steps = [
            ("PUT", one, 200, {"json": {"interval_s": 60, "work_type": "echo"}}, "updated"),
            ("POST", f"{one}/pause", 200, {}, "paused"),
            ("POST", f"{one}/resume", 200, {}, "resumed"),
        ]
        for method, path, code, kw, change in steps:
            answer = await call(api, method, path, code, **kw)
            pushed = await next_change(ws)
            assert (pushed["change"], pushed["data"]) == (change, answer)
        task = await call(api, "POST", f"{one}/trigger", 200)
        pushed = await next_change(ws)
        assert pushed["change"] == "triggered"
        assert pushed["data"]["last_task_id"] == task["task_id"]
        revision = pushed["data"]["revision"]
        await call(api, "DELETE", one, 204)
        pushed = await next_change(ws)
        assert pushed["change"] == "deleted" and pushed["data"]["schedule_id"] == sid
        assert pushed["data"]["revision"] == revision + 1  # newer than any copy of it
        await pong_next(ws)  # nothing else was pushed: no task frames on this topic


async def test_a_fire_is_pushed_with_the_schedule_moved_on(api: TestClient) -> None:
    async with api.ws_connect(PATH) as ws:
        await subscribe(ws, topic="schedules")
        created = await call(api, "POST", URL, 201, json={"interval_s": 1, "work_type": "echo"})
        assert (await next_change(ws))["change"] == "created"
        frames = await events_until(ws, lambda fs: any(f["change"] == "fired" for f in fs))
        fired = frames[-1]["data"]
        assert fired["schedule_id"] == created["schedule_id"]
        assert fired["runs"] >= 1 and fired["last_task_id"] is not None
        assert fired["next_fire_at"] > created["next_fire_at"]
        await call(api, "DELETE", f"{URL}/{created['schedule_id']}", 204)


async def test_an_unknown_topic_names_the_schedules_one(api: TestClient) -> None:
    async with api.ws_connect(PATH) as ws:
        await ws.send_json({"action": "subscribe", "topic": "crons"})
        err = await frame(ws)
        assert err["error_code"] == 1000 and "schedules" in err["details"]["topic"][0]
