"""GET /api/v1/ws: back-pressure, server pings, auth and shutdown (memory and PostgreSQL)."""

import asyncio
import json
import uuid
from typing import Any

import attrs
import pytest
from aiohttp import WSMsgType, WSServerHandshakeError
from aiohttp.test_utils import TestClient

from adapters.http import ws_routes
from adapters.http.app import create_app
from adapters.http.websocket_hub import WebSocketHub
from adapters.http.ws_limits import WsLimits
from adapters.memory.notifier import InMemoryNotifier
from chiffon.events import TaskChanged
from tests.helpers import eventually
from tests.http.conftest import Factory
from tests.http.test_query_and_cancel_api import dispatch, get_json
from tests.http.test_websocket import PATH, WAIT_S, frame, pong_next, subscribe


async def test_a_client_that_does_not_read_is_closed_with_1013(
    make_api: Factory, aiohttp_client: Any
) -> None:
    fast_api, wired = await make_api()
    slow_api = await aiohttp_client(
        create_app(wired.service, {}, events=wired.events, ws_limits=WsLimits(queue_frames=4))
    )
    task_id = await dispatch(fast_api, work_type="research")
    task = await wired.service.get_task(uuid.UUID(task_id))
    notifier = wired.events
    assert isinstance(notifier, InMemoryNotifier)
    async with fast_api.ws_connect(PATH) as fast, slow_api.ws_connect(PATH) as slow:
        await subscribe(fast, topic="tasks")
        await subscribe(slow, topic="tasks")
        flood = attrs.evolve(task, task_id=uuid.uuid4())  # a task of its own, 50 revisions
        for i in range(50):  # one burst: the slow client's writer never gets a turn
            notifier.deliver(
                TaskChanged("progress", attrs.evolve(flood, progress_percent=i, revision=i + 1))
            )
        got = [await frame(fast) for _ in range(50)]
        assert [f["data"]["progress_percent"] for f in got] == list(range(50))
        msg, early = await slow.receive(timeout=WAIT_S), 0
        while msg.type is WSMsgType.TEXT:  # what the writer sent before the queue overflowed
            early += 1
            assert json.loads(msg.data)["seq"] == early
            msg = await slow.receive(timeout=WAIT_S)
        assert (msg.type, msg.data) == (WSMsgType.CLOSE, 1013) and "slow" in msg.extra
        assert early <= 4
        assert (await fast_api.post(f"/api/v1/cancel/{task_id}", json={})).status == 200
        last = await frame(fast)
        assert (last["seq"], last["data"]["status"]) == (51, "cancelled")


async def test_server_pings_drop_a_peer_that_does_not_answer(
    make_api: Factory, aiohttp_client: Any
) -> None:
    _, wired = await make_api()
    app = create_app(wired.service, {})
    hub = WebSocketHub(wired.events, heartbeat_s=0.1)
    ws_routes.install(app, hub)
    api = await aiohttp_client(app)
    async with api.ws_connect(PATH, autoping=False) as ws:  # a peer that never answers pings
        assert (await ws.receive(timeout=WAIT_S)).type is WSMsgType.PING
        async with asyncio.timeout(WAIT_S):
            while (await ws.receive()).type is WSMsgType.PING:
                pass
        assert ws.closed
    await eventually(lambda: asyncio.sleep(0, hub.connections), lambda c: c == [])


async def test_websocket_needs_the_token_when_one_is_set(make_api: Factory) -> None:
    api, _ = await make_api(api_token="s3cret")
    with pytest.raises(WSServerHandshakeError) as caught:
        await api.ws_connect(PATH, headers={"Authorization": "Bearer wrong"})
    assert caught.value.status == 401
    async with api.ws_connect(PATH) as ws:  # no header: the token must come first (ws_auth)
        await ws.send_json({"action": "ping"})
        assert (await ws.receive_json(timeout=3))["error_code"] == 4010
    async with api.ws_connect(PATH, headers={"Authorization": "Bearer s3cret"}) as ws:
        await pong_next(ws)


async def test_a_plain_get_is_400(api: TestClient) -> None:
    err = await get_json(api, PATH, 400)
    assert err["error_code"] == 1000


async def test_shutdown_closes_every_websocket(make_api: Factory) -> None:
    api, wired = await make_api()
    async with api.ws_connect(PATH) as ws:
        await subscribe(ws, topic="tasks")
        shutdown = asyncio.create_task(wired.app.shutdown())
        msg = await ws.receive(timeout=WAIT_S)
        assert (msg.type, msg.data) == (WSMsgType.CLOSE, 1001)
        await asyncio.wait_for(shutdown, WAIT_S)


async def test_the_route_is_in_the_openapi_document(api: TestClient) -> None:
    spec = await get_json(api, "/api/openapi.json")
    operation = spec["paths"][PATH]["get"]
    assert operation["tags"] == ["push"] and operation["operationId"] == "streamChanges"
    assert "101" in operation["responses"]


async def test_the_origin_is_checked_before_the_upgrade(make_api: Factory) -> None:
    api, _ = await make_api(allowed_origins="https://ops.example.com,http://localhost:3000")
    same = f"http://127.0.0.1:{api.port}"
    for origin in (None, same, "https://ops.example.com", "http://localhost:3000"):
        async with api.ws_connect(PATH, origin=origin) as ws:
            await pong_next(ws)
    for origin in ("https://evil.example", "null", f"http://127.0.0.1:{api.port}.evil", "x"):
        with pytest.raises(WSServerHandshakeError) as refused:
            await api.ws_connect(PATH, origin=origin)
        assert refused.value.status == 403, origin
    answer = await api.get(PATH, headers={"Origin": "https://evil.example"})
    assert (answer.status, (await answer.json())["error_code"]) == (403, 4030)


async def test_connections_from_one_address_are_limited(make_api: Factory) -> None:
    api, _ = await make_api(ws_max_per_client=2)
    async with api.ws_connect(PATH) as one, api.ws_connect(PATH) as two:
        with pytest.raises(WSServerHandshakeError) as refused:
            await api.ws_connect(PATH)
        assert refused.value.status == 429
        answer = await api.get(PATH)
        assert (answer.status, (await answer.json())["error_code"]) == (429, 4290)
        await pong_next(one)
        await pong_next(two)

    async def places_free() -> int:  # the server frees a place once its handler has ended
        answer = await api.get(PATH)
        return answer.status

    assert await eventually(places_free, lambda status: status == 400) == 400  # not an upgrade
