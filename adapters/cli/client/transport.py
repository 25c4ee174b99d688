"""REST calls over one keep-alive HTTP/1.1 connection of the standard library.

The one-shot verbs (status, dispatch, tasks, cancel, ...) need nothing more, and importing
aiohttp costs about 150 ms of every `chiffon status` (docs/cli.md); only the live verbs (watch,
--wait) load it, for the WebSocket. Requests go one at a time, in a worker thread so the event
loop (and a WebSocket beside it) keeps running."""

from __future__ import annotations

import asyncio
import http.client
from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit

import attrs

from adapters.cli.client.errors import ServerUnreachable, TransportFailed


@attrs.frozen
class Answer:
    status: int
    reason: str
    text: str


class HttpTransport:
    def __init__(self, url: str, headers: Mapping[str, str], timeout_s: float) -> None:
        parts = urlsplit(url)
        self._url = url
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._headers = dict(headers)
        self._timeout_s = timeout_s
        self._connection: http.client.HTTPConnection | None = None
        self._lock = asyncio.Lock()

    async def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> Answer:
        target = self._prefix + path + (f"?{urlencode(query)}" if query else "")
        sent = {**self._headers, **(headers or {})}
        again = _repeatable(method, path)
        async with self._lock:
            return await asyncio.to_thread(self._send, method, target, body, sent, again)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _send(
        self, method: str, target: str, body: bytes | None, headers: dict[str, str], again: bool
    ) -> Answer:
        # A kept-alive connection the server has closed meanwhile fails at once: a request
        # that may be repeated (see _repeatable) tries a new one, once.
        for fresh in (self._connection is None or not again, True):
            connection = self._connection or self._connect()
            try:
                connection.request(method, target, body=body, headers=headers)
                response = connection.getresponse()
                text = response.read().decode("utf-8", "replace")
            except TimeoutError:
                self.close()
                raise
            except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected) as exc:
                self.close()
                if fresh:
                    raise ServerUnreachable(self._url, str(exc) or type(exc).__name__) from exc
                continue
            except OSError as exc:  # refused, no route, unknown host
                self.close()
                raise ServerUnreachable(self._url, str(exc) or type(exc).__name__) from exc
            except http.client.HTTPException as exc:  # not HTTP, or cut in the middle
                self.close()
                raise TransportFailed(f"{type(exc).__name__}: {exc}") from exc
            if response.will_close:
                self.close()
            return Answer(response.status, response.reason or "", text)
        raise AssertionError("unreachable: the second try always returns or raises")

    def _connect(self) -> http.client.HTTPConnection:
        kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        self._connection = kind(self._host, self._port, timeout=self._timeout_s)
        return self._connection


# Sent twice, these do what they do once: reads, PUT and DELETE, and the POSTs keyed by an id
# the client chose (dispatch by task_id, rerun by its new task_id) or that settle (cancel).
# Creating, pausing, resuming or triggering a schedule is not repeated behind the user's back.
_REPEATABLE_POSTS = ("/api/v1/dispatch", "/api/v1/cancel/")


def _repeatable(method: str, path: str) -> bool:
    if method in ("GET", "HEAD", "PUT", "DELETE"):
        return True
    return path.startswith(_REPEATABLE_POSTS) or path.endswith("/rerun")
