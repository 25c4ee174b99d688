"""WebSocket auth: a header at upgrade, or (for browsers) the token in the first message."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType, WSServerHandshakeError
from aiohttp.test_utils import TestClient

from adapters.http.ws_auth import MAX_AUTH_BYTES, WS_AUTH, WsAuth
from composition_root import Settings, build_container, wire_orchestrator

PATH = "/api/v1/ws"
TOKEN = "s3cret-token"
WAIT_S = 3.0
UPGRADE = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}
MakeClient = Callable[..., Awaitable[TestClient]]


@pytest.fixture
def make_client(aiohttp_client: Any) -> MakeClient:
    """The app as the composition root wires it, in memory, with or without a token."""

    async def make(
        token: str | None = TOKEN, deadline_s: float | None = None, **more: Any
    ) -> TestClient:
        settings = Settings(api_token=token, heartbeat_interval_s=0.2, **more)
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


async def test_a_frame_bigger_than_an_auth_message_closes_the_socket_unread(
    make_client: MakeClient,
) -> None:
    """64 KiB of arrays nested 62 deep, the shape that cost most to decode: refused by its
    length alone (1009 and the size in the reason), never answered as a decoded message
    would be ("authenticate first")."""
    client = await make_client()
    costly = "[" + ",".join(["[" * 61 + "]" * 61] * (64 * 1024 // 124 - 1)) + "]"
    assert MAX_AUTH_BYTES < len(costly) < 64 * 1024
    async with client.ws_connect(PATH) as ws:
        await ws.send_str(costly)
        err = await frame(ws)
        assert err["error_code"] == 4010, err
        assert f"at most {MAX_AUTH_BYTES} bytes" in err["error_message"], err
        closing = await ws.receive(timeout=WAIT_S)
        assert closing.type is WSMsgType.CLOSE and ws.close_code == 1009, closing
    assert (await client.get("/health")).status == 200


async def test_an_auth_message_of_the_largest_size_is_still_read(make_client: MakeClient) -> None:
    long_token = "t" * (MAX_AUTH_BYTES - 40)
    client = await make_client(token=long_token)
    async with client.ws_connect(PATH) as ws:
        await ws.send_json({"action": "auth", "token": long_token})
        assert await frame(ws) == {"event": "authenticated"}


async def test_sockets_waiting_to_authenticate_count_against_the_address_limit(
    make_client: MakeClient,
) -> None:
    client = await make_client(ws_max_per_client=2)
    first, second = await client.ws_connect(PATH), await client.ws_connect(PATH)
    refused = await client.get(PATH, headers=UPGRADE)  # a third, from the same address
    assert refused.status == 429 and (await refused.json())["error_code"] == 4290
    await first.close()
    third = await connect_when_admitted(client)  # a place is free again
    await third.send_json({"action": "auth", "token": TOKEN})
    assert await frame(third) == {"event": "authenticated"}
    await asyncio.gather(second.close(), third.close())


async def connect_when_admitted(client: TestClient) -> ClientWebSocketResponse:
    """The server frees a place once its handler has seen the close: poll, with a deadline."""
    async with asyncio.timeout(WAIT_S):
        while True:
            try:
                return await client.ws_connect(PATH)
            except WSServerHandshakeError as exc:
                assert exc.status == 429, exc
                await asyncio.sleep(0.01)
