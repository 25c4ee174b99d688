"""GET /api/v1/ws: live push over a WebSocket, on the in-memory store and on PostgreSQL."""

import asyncio
import itertools
import json
import uuid
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse
from aiohttp.test_utils import TestClient

from tests.helpers import eventually
from tests.http.test_dispatch_api import status_of
from tests.http.test_query_and_cancel_api import dispatch, get_json

PATH = "/api/v1/ws"
WAIT_S = 3.0
TERMINAL = {"completed", "failed", "cancelled", "timed_out"}
RANK = {"pending": 0, "running": 1}


async def frame(ws: ClientWebSocketResponse, timeout: float = WAIT_S) -> dict[str, Any]:
    data: dict[str, Any] = await ws.receive_json(timeout=timeout)
    return data


async def subscribe(ws: ClientWebSocketResponse, **what: str) -> dict[str, Any]:
    """Subscribe when nothing else is subscribed: the next frame is the snapshot."""
    await ws.send_json({"action": "subscribe", **what})
    snap = await frame(ws)
    assert snap["event"] == "snapshot" and snap["subscription"] == what, snap
    return snap


async def pong_next(ws: ClientWebSocketResponse) -> None:
    """Nothing is queued for the client: a ping's pong is the very next frame."""
    await ws.send_json({"action": "ping"})
    assert await frame(ws) == {"event": "pong"}


async def events_until(
    ws: ClientWebSocketResponse, done: Any, timeout: float = 5.0
) -> list[dict[str, Any]]:
    """Read event frames until `done(frames)` holds."""
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while not done(frames):
            frames.append(await frame(ws))
    return frames


def updates_of(frames: list[dict[str, Any]], task_id: str) -> list[dict[str, Any]]:
    return [f["data"] for f in frames if f.get("data", {}).get("task_id") == task_id]


async def test_snapshot_of_one_task_is_what_status_returns(api: TestClient) -> None:
    task_id = await dispatch(api, work_type="echo", parameters={"a": 1})
    done = await eventually(lambda: status_of(api, task_id), lambda t: t["status"] == "completed")
    async with api.ws_connect(PATH) as ws:
        snap = await subscribe(ws, task_id=task_id)
        assert snap["data"] == [done] and snap["truncated"] is False
        await pong_next(ws)


async def test_unknown_task_is_2001_and_the_connection_stays_open(api: TestClient) -> None:
    missing = str(uuid.uuid4())
    async with api.ws_connect(PATH) as ws:
        await ws.send_json({"action": "subscribe", "task_id": missing})
        err = await frame(ws)
        assert err["error_code"] == 2001 and err["subscription"] == {"task_id": missing}
        assert err["error_message"]
        await pong_next(ws)


async def test_trace_snapshot_holds_the_tasks_of_that_trace(api: TestClient) -> None:
    trace = str(uuid.uuid4())
    first = await dispatch(api, work_type="research", trace_id=trace)
    second = await dispatch(api, work_type="research", trace_id=trace)
    await dispatch(api, work_type="research")
    async with api.ws_connect(PATH) as ws:
        snap = await subscribe(ws, trace_id=trace)
        assert [t["task_id"] for t in snap["data"]] == [second, first]
        third = await dispatch(api, work_type="research", trace_id=trace)
        pushed = await frame(ws)
        assert pushed["event"] == "task.updated" and pushed["seq"] == 1
        assert pushed["data"]["task_id"] == third and pushed["data"]["status"] == "pending"
        assert pushed["change"] == "dispatched"  # what happened, as the timeline names it


async def test_topic_agents_snapshot_then_agent_updated(api: TestClient) -> None:
    agents = await eventually(lambda: get_json(api, "/api/v1/agents"), lambda a: len(a) == 1)
    async with api.ws_connect(PATH) as ws:
        snap = await subscribe(ws, topic="agents")
        assert [a["agent_id"] for a in snap["data"]] == [agents[0]["agent_id"]]
        beats = [await frame(ws) for _ in range(2)]  # the demo agent beats every 0.2 s
        assert [b["event"] for b in beats] == ["agent.updated"] * 2
        assert [b["seq"] for b in beats] == [1, 2]
        assert beats[0]["data"]["agent_id"] == agents[0]["agent_id"]
        assert beats[1]["data"]["last_heartbeat_at"] > beats[0]["data"]["last_heartbeat_at"]


async def test_topic_tasks_sees_a_sleep_run_and_a_cancel_in_order(api: TestClient) -> None:
    async with api.ws_connect(PATH) as ws:
        await subscribe(ws, topic="tasks")
        sleeper = await dispatch(api, work_type="sleep", parameters={"seconds": 0.3, "step_s": 0.1})
        other = await dispatch(api, work_type="research")
        assert (await api.post(f"/api/v1/cancel/{other}", json={})).status == 200

        def finished(frames: list[dict[str, Any]]) -> bool:
            return any(t["status"] == "completed" for t in updates_of(frames, sleeper))

        frames = await events_until(ws, finished)
        assert [f["seq"] for f in frames] == list(range(1, len(frames) + 1))
        assert {f["event"] for f in frames} == {"task.updated"}
        run = updates_of(frames, sleeper)
        statuses = [t["status"] for t in run]
        # A pending task may also change while it waits (its waiting_reason): same status.
        assert [k for k, _ in itertools.groupby(statuses)] == ["pending", "running", "completed"]
        assert statuses.count("running") >= 3
        progress = [t["progress_percent"] for t in run if t["progress_percent"] is not None]
        assert progress == sorted(progress) and progress[-1] == 100 and len(progress) >= 3
        others = [t["status"] for t in updates_of(frames, other)]
        assert [k for k, _ in itertools.groupby(others)] == ["pending", "cancelled"]


async def test_subscribing_after_completion_gives_the_final_state(api: TestClient) -> None:
    task_id = await dispatch(api, work_type="sleep", parameters={"seconds": 0.05, "step_s": 0.05})
    done = await eventually(lambda: status_of(api, task_id), lambda t: t["status"] == "completed")
    summary = {k: v for k, v in done.items() if k not in ("parameters", "result", "output")}
    async with api.ws_connect(PATH) as ws:
        snap = await subscribe(ws, trace_id=done["trace_id"])
        assert snap["summary"] is True  # bulky values stay out of trace and topic snapshots
        assert snap["data"] == [summary] and done["result"] == {"slept_s": 0.05}
        topic = await subscribe(ws, topic="tasks")
        assert summary in topic["data"] and topic["summary"] is True
        one = await subscribe(ws, task_id=task_id)
        assert one["data"] == [done] and "summary" not in one  # a task's own is complete
        await pong_next(ws)


async def test_unsubscribe_stops_the_events(api: TestClient) -> None:
    task_id = await dispatch(api, work_type="research")
    async with api.ws_connect(PATH) as ws:
        await subscribe(ws, task_id=task_id)
        await ws.send_json({"action": "unsubscribe", "task_id": task_id})
        assert await frame(ws) == {"event": "unsubscribed", "subscription": {"task_id": task_id}}
        assert (await api.post(f"/api/v1/cancel/{task_id}", json={})).status == 200
        await pong_next(ws)


async def test_a_change_matching_two_subscriptions_is_sent_once(api: TestClient) -> None:
    task_id = await dispatch(api, work_type="research")
    async with api.ws_connect(PATH) as ws:
        await subscribe(ws, task_id=task_id)
        await ws.send_json({"action": "subscribe", "topic": "tasks"})
        assert (await frame(ws))["event"] == "snapshot"
        assert (await api.post(f"/api/v1/cancel/{task_id}", json={})).status == 200
        pushed = await frame(ws)
        assert (pushed["seq"], pushed["data"]["status"]) == (1, "cancelled")
        await pong_next(ws)


async def test_no_final_state_is_missed_while_subscribing(api: TestClient) -> None:
    ids = [str(uuid.uuid4()) for _ in range(40)]

    async def post(task_id: str) -> None:
        resp = await api.post("/api/v1/dispatch", json={"task_id": task_id, "work_type": "echo"})
        assert resp.status == 200

    some_stored = asyncio.Event()

    async def post_all() -> None:
        for n in range(0, len(ids), 5):
            await asyncio.gather(*(post(i) for i in ids[n : n + 5]))
            if n >= 10:
                some_stored.set()

    async with api.ws_connect(PATH) as ws:
        posting = asyncio.create_task(post_all())
        await asyncio.wait_for(some_stored.wait(), WAIT_S)
        snap = await subscribe(ws, topic="tasks")  # while more tasks are posted and run
        await posting
        seen = {t["task_id"]: [t] for t in snap["data"]}
        assert len(seen) >= 15
        frames: list[dict[str, Any]] = []
        async with asyncio.timeout(5.0):
            while not all(i in seen and seen[i][-1]["status"] in TERMINAL for i in ids):
                frames.append(await frame(ws))
                seen.setdefault(frames[-1]["data"]["task_id"], []).append(frames[-1]["data"])
    assert [f["seq"] for f in frames] == list(range(1, len(frames) + 1))
    for task_id in ids:
        states = [(RANK.get(t["status"], 2), t["updated_at"]) for t in seen[task_id]]
        assert states == sorted(states), seen[task_id]  # never older than what came before
        assert seen[task_id][-1]["status"] == "completed"


BAD_MESSAGES = [
    "not json",
    "[1, 2]",
    '"subscribe"',
    "{}",
    '{"action": "dance"}',
    '{"action": "subscribe"}',
    '{"action": "subscribe", "task_id": "nope"}',
    '{"action": "subscribe", "trace_id": 12}',
    '{"action": "subscribe", "topic": "cats"}',
    '{"action": "subscribe", "topic": ["tasks"]}',
    '{"action": "subscribe", "topic": "tasks", "colour": "red"}',
    '{"action": "unsubscribe", "topic": "tasks", "trace_id": "' + str(uuid.UUID(int=4)) + '"}',
    '{"action": "ping", "extra": 1}',
]


@pytest.mark.parametrize("text", BAD_MESSAGES)
async def test_bad_messages_get_1000_and_the_connection_stays_open(
    api: TestClient, text: str
) -> None:
    async with api.ws_connect(PATH) as ws:
        await ws.send_str(text)
        err = await frame(ws)
        assert err["error_code"] == 1000 and err["error_message"] and err["details"], err
        await pong_next(ws)
        await subscribe(ws, topic="agents")


async def test_binary_frames_get_1000(api: TestClient) -> None:
    async with api.ws_connect(PATH) as ws:
        await ws.send_bytes(json.dumps({"action": "ping"}).encode())
        assert (await frame(ws))["error_code"] == 1000
        await pong_next(ws)
