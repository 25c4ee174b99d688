"""The ledger seen from the API: every task shape carries its revision, GET .../events is the
timeline, and a WebSocket subscription resumes with after_revision, on memory and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from tests.helpers import eventually
from tests.http.conftest import Factory
from tests.http.test_query_and_cancel_api import dispatch, get_json
from tests.http.test_websocket import PATH, frame, subscribe

SLEEP = {"seconds": 0.6, "step_s": 0.1}


async def finished(api: TestClient, task_id: str) -> dict[str, Any]:
    return await eventually(
        lambda: get_json(api, f"/api/v1/status/{task_id}"),
        lambda t: t["status"] in ("completed", "failed", "cancelled", "timed_out"),
        5,
    )


async def test_the_timeline_numbers_every_change(api: TestClient) -> None:
    task_id = await dispatch(api, work_type="sleep", parameters=SLEEP)
    done = await finished(api, task_id)
    page = await get_json(api, f"/api/v1/tasks/{task_id}/events")
    items = page["items"]
    assert [e["revision"] for e in items] == list(range(1, done["revision"] + 1))
    assert page["revision"] == done["revision"] and page["next_after"] is None
    # While pending, the task's waiting reason may change (the demo agent turns busy or
    # idle): such "waiting" entries come only before "started".
    kinds = [e["kind"] for e in items]
    started = kinds.index("started")
    assert kinds[0] == "dispatched" and set(kinds[1:started]) <= {"waiting"}
    assert kinds[-1] == "finished" and set(kinds[started + 1 : -1]) == {"progress"}
    assert items[0]["changes"]["status"] == "pending" and "parameters" not in items[0]["changes"]
    assert items[-1]["status"] == "completed" and items[-1]["changes"]["exit_code"] == 0
    # Folding the changes in order gives the task as it is (`reported_by`, which agent's
    # report about which attempt an entry applied, is no task field).
    state: dict[str, Any] = {}
    for event in items:
        state.update(event["changes"])
    assert state.pop("reported_by") == {"attempt": 1, "agent_id": done["agent_id"]}
    assert {**state, "parameters": done["parameters"], "revision": done["revision"]} == done

    later = await get_json(api, f"/api/v1/tasks/{task_id}/events?after=2&limit=2")
    assert [e["revision"] for e in later["items"]] == [3, 4] and later["next_after"] == 4


async def test_bad_timeline_requests(api: TestClient) -> None:
    unknown = await api.get(f"/api/v1/tasks/{uuid.uuid4()}/events")
    assert (unknown.status, (await unknown.json())["error_code"]) == (404, 2001)
    task_id = await dispatch(api, work_type="echo")
    for bad in ("after=-1", "after=x", "after=99999999999", "limit=0", "limit=1001", "x=1"):
        answer = await api.get(f"/api/v1/tasks/{task_id}/events?{bad}")
        assert (answer.status, (await answer.json())["error_code"]) == (400, 1000), bad
    assert (await api.get("/api/v1/tasks/not-a-uuid/events")).status == 400


async def test_every_task_shape_carries_the_revision(api: TestClient) -> None:
    task_id = await dispatch(api, work_type="research")  # no agent: stays pending
    assert (await get_json(api, f"/api/v1/status/{task_id}"))["revision"] == 1
    listed = await get_json(api, "/api/v1/tasks")
    assert listed["items"][0]["revision"] == 1
    async with api.ws_connect(PATH) as ws:
        snapshot = await subscribe(ws, topic="tasks")
        assert snapshot["data"][0]["revision"] == 1
        assert (await api.post(f"/api/v1/cancel/{task_id}", json={})).status == 200
        change = await frame(ws)
        assert (change["data"]["status"], change["data"]["revision"]) == ("cancelled", 2)


async def frames_until_final(ws: aiohttp.ClientWebSocketResponse) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    while not got or got[-1]["data"]["status"] not in ("completed", "failed", "cancelled"):
        got.append(await frame(ws))
    return got


async def test_a_client_that_resumes_sees_every_change_once_in_order(api: TestClient) -> None:
    task_id = await dispatch(api, work_type="sleep", parameters=SLEEP)
    seen: list[dict[str, Any]] = []
    async with api.ws_connect(PATH) as ws:
        snapshot = await subscribe(ws, task_id=task_id)
        seen.append(snapshot["data"][0])
        while seen[-1]["revision"] < 3:  # started, first progress: then the client drops
            seen.append((await frame(ws))["data"])
    await asyncio.sleep(0.25)  # changes happen while it is away
    async with api.ws_connect(PATH) as ws:
        last = seen[-1]["revision"]
        await ws.send_json({"action": "subscribe", "task_id": task_id, "after_revision": last})
        seen += [f["data"] for f in await frames_until_final(ws)]
    done = await finished(api, task_id)
    first = seen[0]["revision"]  # the snapshot: wherever the task was when it subscribed
    assert [t["revision"] for t in seen] == list(range(first, done["revision"] + 1))
    assert seen[-1] == done  # the replayed and live states are the API's own shape
    timeline = (await get_json(api, f"/api/v1/tasks/{task_id}/events"))["items"]
    by_revision = _progress_by_revision(timeline)[first - 1 :]
    assert [t["progress_percent"] for t in seen] == by_revision


def _progress_by_revision(timeline: list[dict[str, Any]]) -> list[Any]:
    progress, out = None, []
    for event in timeline:
        progress = event["changes"].get("progress_percent", progress)
        out.append(progress)
    return out


async def test_resuming_a_finished_task_replays_only_what_was_missed(api: TestClient) -> None:
    task_id = await dispatch(api, work_type="echo", parameters={"x": 1})
    done = await finished(api, task_id)
    async with api.ws_connect(PATH) as ws:
        await ws.send_json({"action": "subscribe", "task_id": task_id, "after_revision": 1})
        frames = [await frame(ws) for _ in range(done["revision"] - 1)]
        replayed = [f["data"] for f in frames]
        assert [t["revision"] for t in replayed] == list(range(2, done["revision"] + 1))
        assert replayed[-1] == done
        timeline = (await get_json(api, f"/api/v1/tasks/{task_id}/events?after=1"))["items"]
        assert [f["change"] for f in frames] == [e["kind"] for e in timeline]  # each its entry's
        await ws.send_json({"action": "ping"})
        assert (await frame(ws)) == {"event": "pong"}  # and nothing else came
        await ws.send_json(
            {"action": "subscribe", "task_id": task_id, "after_revision": done["revision"]}
        )
        await ws.send_json({"action": "ping"})
        assert (await frame(ws)) == {"event": "pong"}  # up to date: nothing to replay


async def test_after_revision_goes_only_with_a_task(make_api: Factory) -> None:
    api, _ = await make_api()
    async with api.ws_connect(PATH) as ws:
        for bad in (
            {"action": "subscribe", "topic": "tasks", "after_revision": 1},
            {"action": "subscribe", "task_id": str(uuid.uuid4()), "after_revision": -1},
            {"action": "subscribe", "task_id": str(uuid.uuid4()), "after_revision": "1"},
            {"action": "unsubscribe", "task_id": str(uuid.uuid4()), "after_revision": 1},
        ):
            await ws.send_json(bad)
            answer = await frame(ws)
            assert answer["error_code"] == 1000 and "after_revision" in answer["details"], bad
        missing = {"action": "subscribe", "task_id": str(uuid.uuid4()), "after_revision": 0}
        await ws.send_json(missing)
        assert (await frame(ws))["error_code"] == 2001


async def test_retry_and_delay_through_the_api(api: TestClient) -> None:
    """The policy fields go in as documented and come out on the task; a delayed task fires
    at its time (and not before) on either store, within a second of it."""
    task_id = str(uuid.uuid4())
    body = {
        "task_id": task_id,
        "work_type": "fail",
        "parameters": {"message": "again"},
        "retry": {"max_attempts": 2, "backoff_s": 0.2, "on": ["failed", "lost"]},
        "delay_s": 0.5,
    }
    assert (await api.post("/api/v1/dispatch", json=body)).status == 200
    assert (await api.post("/api/v1/dispatch", json=body)).status == 200  # the same request
    other = {**body, "retry": {**body["retry"], "max_attempts": 3}}
    assert (await api.post("/api/v1/dispatch", json=other)).status == 409  # another policy
    first = await get_json(api, f"/api/v1/status/{task_id}")
    assert (first["max_attempts"], first["retry_on"]) == (2, ["failed", "lost"])
    assert (first["retry_backoff_s"], first["retry_backoff_max_s"]) == (0.2, 300.0)
    assert first["next_attempt_at"] == first["not_before"] is not None
    done = await eventually(
        lambda: get_json(api, f"/api/v1/status/{task_id}"),
        lambda t: t["status"] == "failed",
        8,
    )
    assert done["attempt"] == 2 and done["next_attempt_at"] is None
    timeline = (await get_json(api, f"/api/v1/tasks/{task_id}/events"))["items"]
    started = [datetime.fromisoformat(e["at"]) for e in timeline if e["kind"] == "started"]
    due = datetime.fromisoformat(first["not_before"])
    late = (started[0] - due).total_seconds()
    assert 0 <= late < 1.0, late  # not before its time, and soon after it


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"delay_s": -1}, "delay_s"),
        ({"not_before": "2027-01-01T00:00:00"}, "not_before"),
        ({"not_before": "2099-01-01T00:00:00+00:00"}, "not_before"),
        ({"not_before": "2027-01-01T00:00:00+00:00", "delay_s": 3}, "delay_s"),
        ({"retry": {"max_attempts": 0}}, "retry"),
        ({"retry": {"on": ["sometimes"]}}, "retry"),
        ({"retry": {"backoff_s": -1}}, "retry"),
        ({"retry": {"backoff_s": 10, "backoff_max_s": 1}}, "retry"),
        ({"retry": {"max_attempts": 3, "extra": 1}}, "retry"),
    ],
)
async def test_bad_policy_fields_are_400_naming_them(
    api: TestClient, extra: dict[str, Any], field: str
) -> None:
    body = {"task_id": str(uuid.uuid4()), "work_type": "echo", **extra}
    answer = await api.post("/api/v1/dispatch", json=body)
    found = await answer.json()
    assert (answer.status, found["error_code"]) == (400, 1000), found
    assert field in found["details"], found
