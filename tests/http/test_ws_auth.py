"""WebSocket auth: a header at upgrade, or (for browsers) the token in the first message."""

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType
from aiohttp.test_utils import TestClient

from adapters.http.ws_auth import WS_AUTH, WsAuth
from composition_root import Settings, build_container, wire_orchestrator

PATH = "/api/v1/ws"
TOKEN = "s3cret-token"
WAIT_S = 3.0
MakeClient = Callable[..., Awaitable[TestClient]]


@pytest.fixture
def make_client(aiohttp_client: Any) -> MakeClient:
    """The app as the composition root wires it, in memory, with or without a token."""

    async def make(token: str | None = TOKEN, deadline_s: float | None = None) -> TestClient:
        settings = Settings(api_token=token, heartbeat_interval_s=0.2)
        app = wire_orchestrator(build_container(settings)).app
        if deadline_s is not None:  # the 10 s default is too long to wait for in a test
            app[WS_AUTH] = WsAuth(token, deadline_s)
        client: TestClient = await aiohttp_client(app)
        return client

    return make


async def frame(ws: ClientWebSocketResponse) -> dict[str, Any]:
    data: dict[str, Any] = await ws.receive_json(timeout=WAIT_S)
    return data


async def assert_served(ws: ClientWebSocketResponse) -> None:
    await ws.send_json({"action": "subscribe", "topic": "agents"})
    snap = await frame(ws)
    assert snap["event"] == "snapshot" and snap["subscription"] == {"topic": "agents"}, snap


async def assert_refused(ws: ClientWebSocketResponse, says: str) -> None:
    err = await frame(ws)
    assert err["error_code"] == 4010 and says in err["error_message"], err
    closing = await ws.receive(timeout=WAIT_S)
    assert closing.type is WSMsgType.CLOSE and ws.close_code == 1008, closing


async def test_no_token_configured_needs_no_auth(make_client: MakeClient) -> None:
    client = await make_client(token=None)
    async with client.ws_connect(PATH) as ws:
        await assert_served(ws)


async def test_a_valid_header_at_upgrade_is_already_authenticated(make_client: MakeClient) -> None:
    client = await make_client()
    async with client.ws_connect(PATH, headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
        await assert_served(ws)


async def test_a_wrong_header_is_refused_before_the_upgrade(make_client: MakeClient) -> None:
    client = await make_client()
    resp = await client.get(PATH, headers={"Authorization": "Bearer nope"})
    assert resp.status == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await resp.json())["error_code"] == 4010


async def test_the_token_in_the_first_message(make_client: MakeClient) -> None:
    client = await make_client()
    async with client.ws_connect(PATH) as ws:
        await ws.send_json({"action": "auth", "token": TOKEN})
        assert await frame(ws) == {"event": "authenticated"}
        await assert_served(ws)


async def test_a_wrong_token_in_the_first_message_closes_with_1008(
    make_client: MakeClient,
) -> None:
    client = await make_client()
    async with client.ws_connect(PATH) as ws:
        await ws.send_json({"action": "auth", "token": "nope"})
        await assert_refused(ws, "wrong token")


async def test_other_messages_before_auth_get_4010_and_serve_nothing(
    make_client: MakeClient,
) -> None:
    client = await make_client()
    async with client.ws_connect(PATH) as ws:
        for message in ({"action": "subscribe", "topic": "tasks"}, {"action": "ping"}):
            await ws.send_json(message)
            err = await frame(ws)
            assert err["error_code"] == 4010 and "authenticate first" in err["error_message"]
        await ws.send_str("not json")
        assert (await frame(ws))["error_code"] == 4010
        await ws.send_json({"action": "auth", "token": TOKEN})  # still welcome afterwards
        assert await frame(ws) == {"event": "authenticated"}
        await assert_served(ws)


async def test_no_auth_within_the_deadline_closes_with_1008(make_client: MakeClient) -> None:
    client = await make_client(deadline_s=0.3)
    async with client.ws_connect(PATH) as ws:
        await assert_refused(ws, "no auth message within 0.3 s")


async def test_rest_still_needs_the_header_and_says_bearer(make_client: MakeClient) -> None:
    client = await make_client()
    resp = await client.get("/api/v1/agents")
    assert resp.status == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
    body = await resp.json()
    assert body["error_code"] == 4010 and body["error_message"]
    ok = await client.get("/api/v1/agents", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status == 200


async def test_shutdown_closes_sockets_still_waiting_for_auth(make_client: MakeClient) -> None:
    client = await make_client()
    async with client.ws_connect(PATH) as ws:
        await ws.send_json({"action": "ping"})
        assert (await frame(ws))["error_code"] == 4010  # the server is in the handshake
        await client.app[WS_AUTH].on_shutdown(client.app)
        closing = await ws.receive(timeout=WAIT_S)
        assert closing.type is WSMsgType.CLOSE and ws.close_code == 1001, closing
