"""WebSocket auth for browsers, which cannot set headers: the token in the first message."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from enum import Enum
from typing import Final

from aiohttp import WSCloseCode, WSMsgType, web

from adapters.codec import strict_json
from adapters.http.auth_throttle import AuthThrottle
from adapters.http.edge_errors import TooManyAuthFailures
from adapters.http.ws_protocol import error_frame

log = logging.getLogger(__name__)

DEADLINE_S: Final = 10.0
MAX_TRIES: Final = 10  # messages a client may send before its auth one
# Nothing costs more before authentication than the largest auth message that could be valid
# (a token of up to 4,000 characters): a bigger frame closes the socket (1009) unread.
MAX_AUTH_BYTES: Final = 4096
AUTHENTICATED_FRAME: Final = '{"event":"authenticated"}'
# Set by the bearer middleware when the upgrade request carried the right header.
HEADER_AUTHENTICATED = web.RequestKey("chiffon_header_authenticated", bool)
_ENDED: Final = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR)


class _Verdict(Enum):
    ACCEPT = "accept"
    REFUSE = "refuse"  # an auth message with a wrong token: close
    NOT_YET = "not_yet"  # any other message: say so, keep waiting


class WsAuth:
    """With a token configured, a WebSocket upgraded without the Authorization header must
    send `{"action": "auth", "token": ...}` first, within `deadline_s`. Until then nothing
    else is served: each other message is answered with error_code 4010."""

    def __init__(
        self,
        token: str | None,
        deadline_s: float = DEADLINE_S,
        throttle: AuthThrottle | None = None,
    ) -> None:
        self._expected = None if token is None else token.encode()
        self.deadline_s = deadline_s
        self._throttle = throttle or AuthThrottle()
        self._waiting: set[web.WebSocketResponse] = set()

    async def admit(self, request: web.Request, ws: web.WebSocketResponse) -> bool:
        """True when `ws` may be served; False when it was refused (and closed) or went away."""
        if self._expected is None or request.get(HEADER_AUTHENTICATED, False):
            return True
        self._waiting.add(ws)
        try:
            return await self._handshake(ws, self._expected, request.remote or "")
        finally:
            self._waiting.discard(ws)

    async def on_shutdown(self, _: web.Application) -> None:
        """Sockets still in their handshake are not in the hub yet; close them too."""
        for ws in list(self._waiting):
            with contextlib.suppress(Exception):
                await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")

    async def _handshake(self, ws: web.WebSocketResponse, expected: bytes, address: str) -> bool:
        try:  # the deadline covers our sends too: a peer that does not read cannot stall it
            async with asyncio.timeout(self.deadline_s):
                return await self._await_auth(ws, expected, address)
        except TimeoutError:
            pass
        await _refuse(ws, f"no auth message within {self.deadline_s:g} s")
        return False

    async def _await_auth(self, ws: web.WebSocketResponse, expected: bytes, address: str) -> bool:
        for _ in range(MAX_TRIES):
            msg = await ws.receive()
            if msg.type in _ENDED:
                return False
            if isinstance(msg.data, str | bytes) and len(msg.data) > MAX_AUTH_BYTES:
                await _refuse(
                    ws,
                    f"a message before auth is at most {MAX_AUTH_BYTES} bytes",
                    WSCloseCode.MESSAGE_TOO_BIG,
                )
                return False
            token = _auth_token(msg.type, msg.data)
            if token is not None:
                try:
                    self._throttle.check(address)
                except TooManyAuthFailures as exc:
                    await _refuse(ws, exc.message, code=WSCloseCode.POLICY_VIOLATION, error=4291)
                    return False
            verdict = _judge(token, expected)
            if verdict is _Verdict.REFUSE:
                self._throttle.failed(address)
            if verdict is _Verdict.ACCEPT:
                await ws.send_str(AUTHENTICATED_FRAME)
                return True
            if verdict is _Verdict.REFUSE:
                await _refuse(ws, "wrong token")
                return False
            await ws.send_str(
                error_frame(
                    4010,
                    'authenticate first: {"action": "auth", "token": "..."}',
                    {"action": ["The first message must be auth."]},
                )
            )
        await _refuse(ws, f"no auth message in the first {MAX_TRIES} messages")
        return False


def _auth_token(kind: WSMsgType, data: object) -> bytes | None:
    """The token of an auth message (b"" when it has none), or None for any other message."""
    if kind is not WSMsgType.TEXT or not isinstance(data, str):
        return None
    try:
        message = strict_json.loads(data)
    except strict_json.JsonRejected:
        return None
    if not isinstance(message, dict) or message.get("action") != "auth":
        return None
    token = message.get("token")
    return token.encode() if isinstance(token, str) else b""  # strict: always encodable


def _judge(given: bytes | None, expected: bytes) -> _Verdict:
    if given is None:
        return _Verdict.NOT_YET
    return _Verdict.ACCEPT if hmac.compare_digest(given, expected) else _Verdict.REFUSE


async def _refuse(
    ws: web.WebSocketResponse,
    why: str,
    code: int = WSCloseCode.POLICY_VIOLATION,
    error: int = 4010,
) -> None:
    log.info("WebSocket refused: %s", why)
    with contextlib.suppress(Exception):  # a peer that is gone cannot hear it anyway
        await ws.send_str(error_frame(error, f"not authenticated: {why}", None))
        await ws.close(code=code, message=why.encode()[:123])


WS_AUTH = web.AppKey("ws_auth", WsAuth)
