"""The GET /api/v1/ws handler: live push of task and agent changes over a WebSocket."""

from __future__ import annotations

import logging
from typing import Final

from aiohttp import WSMsgType, web
from aiohttp_apispec import docs

from adapters.http.keys import SERVICE
from adapters.http.schemas import ErrorSchema
from adapters.http.websocket_hub import WebSocketHub
from adapters.http.ws_auth import WS_AUTH
from adapters.http.ws_connection import Connection
from adapters.http.ws_protocol import (
    PONG,
    ProtocolError,
    Subscription,
    error_frame,
    parse_message,
    unsubscribed_frame,
)
from adapters.http.ws_snapshot import load_snapshot
from chiffon.errors import ChiffonError
from chiffon.orchestrator import OrchestratorService

log = logging.getLogger(__name__)

PATH: Final = "/api/v1/ws"
WS_HUB = web.AppKey("ws_hub", WebSocketHub)
MAX_MESSAGE_BYTES: Final = 64 * 1024  # client messages are tiny; bigger ones close with 1009

DESCRIPTION = """Upgrade to a WebSocket, then send JSON text frames:
`{"action": "subscribe", "task_id": ...}` (or `trace_id`, or `"topic": "tasks"|"agents"`),
`{"action": "unsubscribe", ...same key...}`, `{"action": "ping"}`.
Each subscribe is answered by `{"event": "snapshot", "subscription": ..., "data": [...]}`, then
every matching change is pushed as `{"event": "task.updated"|"agent.updated", "data": ...,
"seq": n}` (seq counts pushed events on this connection: 1, 2, 3...), in publish order, none
lost between snapshot and stream. Bad messages get `{"error_code": 1000, ...}` and the connection
stays open; an unknown task_id gets 2001. A client that lets its queue fill is closed with 1013.
The server pings; a peer that does not answer is dropped. See docs/websocket.md."""


def install(app: web.Application, hub: WebSocketHub) -> None:
    """Add the route, and tie the hub to the app's startup, shutdown and cleanup."""
    app[WS_HUB] = hub
    app.cleanup_ctx.append(hub.lifecycle)
    app.on_shutdown.append(hub.on_shutdown)
    app.router.add_get(PATH, websocket, allow_head=False)


@docs(
    tags=["push"],
    summary="Live push of task and agent changes (WebSocket)",
    description=DESCRIPTION,
    responses={
        101: {"description": "Switching Protocols: the WebSocket is open"},
        400: {"schema": ErrorSchema, "description": "Not a WebSocket upgrade request (1000)"},
        401: {
            "schema": ErrorSchema,
            "description": "Wrong bearer token (4010). With a token set and no header, the "
            'first message must be {"action": "auth", "token": "..."} (docs/websocket.md)',
        },
    },
)
async def websocket(request: web.Request) -> web.WebSocketResponse:
    hub = request.app[WS_HUB]
    ws = web.WebSocketResponse(heartbeat=hub.heartbeat_s, max_msg_size=MAX_MESSAGE_BYTES)
    await ws.prepare(request)
    if not await request.app[WS_AUTH].admit(request, ws):
        return ws
    conn = hub.connect(ws)
    try:
        async for msg in ws:
            await _handle(request.app[SERVICE], conn, msg.type, msg.data)
    finally:
        await hub.disconnect(conn)
    return ws


async def _handle(
    service: OrchestratorService, conn: Connection, kind: WSMsgType, data: object
) -> None:
    if kind is WSMsgType.ERROR:
        return
    if kind is not WSMsgType.TEXT or not isinstance(data, str):
        conn.send(error_frame(1000, "send JSON text frames", {"message": ["Not a text frame."]}))
        return
    try:
        message = parse_message(data)
        if message.action == "ping":
            conn.send(PONG)
        elif message.action == "unsubscribe":
            assert message.subscription is not None
            conn.unsubscribe(message.subscription)
            conn.send(unsubscribed_frame(message.subscription))
        else:
            assert message.subscription is not None
            await _subscribe(service, conn, message.subscription)
    except ProtocolError as exc:
        conn.send(error_frame(1000, exc.message, exc.details))


async def _subscribe(service: OrchestratorService, conn: Connection, sub: Subscription) -> None:
    """Remember events from now on, read the snapshot, then send both (see Connection)."""
    conn.begin(sub)
    try:
        snapshot = await load_snapshot(service, sub)
    except ChiffonError as exc:
        conn.abort()
        conn.send(error_frame(exc.error_code, exc.message, exc.details, sub))
        return
    except Exception:
        conn.abort()
        log.exception("WebSocket snapshot failed for %s", sub.to_json())
        conn.send(error_frame(5000, "internal error; see the log", None, sub))
        return
    conn.complete(snapshot)
