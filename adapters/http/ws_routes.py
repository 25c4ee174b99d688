"""The GET /api/v1/ws handler: live push of task and agent changes over a WebSocket."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Final
from uuid import UUID

from aiohttp import WSMsgType, web
from aiohttp_apispec import docs

from adapters.http.keys import SCHEDULES, SERVICE
from adapters.http.origin import check_origin
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
from adapters.http.ws_resume import replay
from adapters.http.ws_snapshot import Snapshot, load_snapshot
from chiffon.errors import ChiffonError
from chiffon.orchestrator import OrchestratorService
from chiffon.schedule_service import ScheduleService

log = logging.getLogger(__name__)

PATH: Final = "/api/v1/ws"
WS_HUB = web.AppKey("ws_hub", WebSocketHub)
MAX_MESSAGE_BYTES: Final = 64 * 1024  # client messages are tiny; bigger ones close with 1009

DESCRIPTION = """Upgrade to a WebSocket, then send JSON text frames:
`{"action": "subscribe", "task_id": ...}` (or `trace_id`, or `"topic":
"tasks"|"agents"|"schedules"`),
`{"action": "unsubscribe", ...same key...}`, `{"action": "ping"}`.
Each subscribe is answered by `{"event": "snapshot", "subscription": ..., "data": [...]}`, then
every matching change is pushed as `{"event": "task.updated"|"agent.updated", "data": ...,
"seq": n}` (seq counts pushed events on this connection: 1, 2, 3...), or for schedules
`{"event": "schedule.updated", "change": "created"|"updated"|"paused"|"resumed"|"deleted"|
"fired"|"skipped"|"triggered", "data": schedule, "seq": n}`, in publish order, none
lost between snapshot and stream. Every task carries `revision` (+1 per change): drop a frame
that is not newer. `{"action": "subscribe", "task_id": ..., "after_revision": N}` resumes: one
task.updated per revision after N, then the live ones. Bad messages get `{"error_code": 1000,
...}` and the connection
stays open; an unknown task_id gets 2001. A client that lets its queue fill is closed with 1013.
The server pings; a peer that does not answer is dropped. See docs/websocket.md."""


WS_ORIGINS: web.AppKey[frozenset[str]] = web.AppKey("ws_origins")


def install(app: web.Application, hub: WebSocketHub, origins: frozenset[str] = frozenset()) -> None:
    """Add the route, and tie the hub to the app's startup, shutdown and cleanup."""
    app[WS_HUB] = hub
    app[WS_ORIGINS] = origins
    app.cleanup_ctx.append(hub.lifecycle)
    app.on_shutdown.append(hub.on_shutdown)
    app.router.add_get(PATH, websocket, allow_head=False)


@docs(
    tags=["push"],
    summary="Live push of task and agent changes (WebSocket)",
    operationId="streamChanges",
    description=DESCRIPTION,
    responses={
        101: {"description": "Switching Protocols: the WebSocket is open"},
        400: {"schema": ErrorSchema, "description": "Not a WebSocket upgrade request (1000)"},
        401: {
            "schema": ErrorSchema,
            "description": "Wrong bearer token (4010). With a token set and no header, the "
            'first message must be {"action": "auth", "token": "..."} (docs/websocket.md)',
        },
        403: {"schema": ErrorSchema, "description": "A browser page of another origin (4030)"},
        429: {"schema": ErrorSchema, "description": "Too many connections (4290)"},
    },
)
async def websocket(request: web.Request) -> web.WebSocketResponse:
    hub = request.app[WS_HUB]
    origins: frozenset[str] = request.app[WS_ORIGINS]
    check_origin(request, origins)
    client = request.remote or ""
    hub.admit(client)
    ws = web.WebSocketResponse(heartbeat=hub.heartbeat_s, max_msg_size=MAX_MESSAGE_BYTES)
    with hub.pending(client):  # counted against the limits from the upgrade on
        await ws.prepare(request)
        if not await request.app[WS_AUTH].admit(request, ws):
            return ws
    conn = hub.connect(ws, client, abort=_aborter(request))
    schedules = request.app.get(SCHEDULES)
    try:
        async for msg in ws:
            if conn.closing:
                break  # evicted: read nothing more, build nothing more for it
            await _handle(request.app[SERVICE], hub, conn, msg.type, msg.data, schedules)
    finally:
        await hub.disconnect(conn)
    return ws


async def _resume(
    service: OrchestratorService, conn: Connection, sub: Subscription, after: int
) -> None:
    assert isinstance(sub.value, UUID)
    found = await replay(service, sub.value, after)
    if found.complete:
        conn.resume(found.missed, after)
    else:  # too long a timeline to replay: start over from the task as it is
        conn.complete(Snapshot((found.current,)))


def _aborter(request: web.Request) -> Callable[[], None]:
    """Cuts the TCP connection: for a peer that will not even take a close frame."""

    def abort() -> None:
        if request.transport is not None:
            request.transport.abort()

    return abort


async def _handle(
    service: OrchestratorService,
    hub: WebSocketHub,
    conn: Connection,
    kind: WSMsgType,
    data: object,
    schedules: ScheduleService | None = None,
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
            sub, after = message.subscription, message.after_revision
            await _subscribe(service, hub, conn, sub, after, schedules)
    except ProtocolError as exc:
        conn.send(error_frame(1000, exc.message, exc.details))


async def _subscribe(
    service: OrchestratorService,
    hub: WebSocketHub,
    conn: Connection,
    sub: Subscription,
    after_revision: int | None = None,
    schedules: ScheduleService | None = None,
) -> None:
    """Remember events from now on, read the snapshot, then send both (see Connection).
    The whole of it, reading and encoding, passes a server-wide gate (hub.snapshots): however
    many clients ask at once, only a few snapshots are being made, the event loop stays free
    for everyone else (/health included), and turns are shared fairly between addresses."""
    async with hub.snapshots.turn(conn.client):
        # Yield once holding the gate: an in-memory store answers without ever suspending,
        # and without this every waiting client would build its snapshot in the same turn
        # of the loop, each holding the gate only while nobody else could ask for it.
        await asyncio.sleep(0)
        if conn.closing:
            return
        conn.begin(sub)
        try:
            if after_revision is not None:
                await _resume(service, conn, sub, after_revision)
                return
            snapshot = await load_snapshot(service, sub, hub.limits.snapshot_tasks, schedules)
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
