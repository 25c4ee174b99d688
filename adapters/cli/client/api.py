"""The typed async Python client of the chiffon HTTP API (REST calls and live watch)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote
from uuid import UUID, uuid4

import attrs

from adapters.cli.client.address import DEFAULT_URL
from adapters.cli.client.errors import ApiError
from adapters.cli.client.task_json import TaskJson
from adapters.cli.client.transport import HttpTransport
from chiffon.model import AgentStatus, TaskStatus

if TYPE_CHECKING:  # loaded on the first watch: the one-shot verbs start without it
    import aiohttp

FINAL: Final = frozenset(
    {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.TIMED_OUT}
)
JSON_HEADERS: Final = {"Content-Type": "application/json"}

__all__ = ["DEFAULT_URL", "FINAL", "Accepted", "Client", "TaskJson"]


@attrs.frozen
class Accepted:
    """The answer to a dispatch: the task is stored and will be run."""

    task_id: UUID
    trace_id: UUID
    request_id: UUID
    status: str
    raw: dict[str, Any] = attrs.field(eq=False, repr=False, factory=dict)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Accepted:
        return cls(
            UUID(body["task_id"]),
            UUID(body["trace_id"]),
            UUID(body["request_id"]),
            str(body["status"]),
            body,
        )


class Client:
    """`async with Client(url, token) as chiffon:` then `await chiffon.dispatch("echo", {...})`.

    Every API error raises ApiError; a server that does not answer raises ServerUnreachable.
    Tasks and agents are the API's JSON objects (dicts), as docs/api.md shows them."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        token: str | None = None,
        *,
        request_timeout_s: float = 30.0,
        trace_id: UUID | str | None = None,
    ) -> None:
        """`trace_id`: sent as X-Trace-Id on every call, so the server's log lines of this
        client's calls (and the tasks it dispatches without a trace_id of their own) share it."""
        self.url = url.rstrip("/")
        self._headers = {"Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        if trace_id is not None:
            self._headers["X-Trace-Id"] = str(UUID(str(trace_id)))
        self._rest = HttpTransport(self.url, self._headers, request_timeout_s)
        self._session: aiohttp.ClientSession | None = None  # the WebSocket's, once watching

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        self._rest.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def dispatch(
        self,
        work_type: str,
        parameters: Mapping[str, Any] | None = None,
        *,
        priority: int | None = None,
        timeout_s: float | None = None,
        trace_id: UUID | str | None = None,
        task_id: UUID | str | None = None,
        retry: Mapping[str, Any] | None = None,
        delay_s: float | None = None,
        not_before: str | None = None,
        on_no_agent: str | None = None,
        concurrency: Mapping[str, Any] | None = None,
    ) -> Accepted:
        """Dispatch one unit of work (idempotent on task_id, generated when not given).
        `retry` is the API's retry object ({"max_attempts", "backoff_s", "on", ...}),
        `concurrency` its concurrency object ({"key", "max_running"}). The
        answer's trace_id is `trace_id`, else the client's, else a new one."""
        body: dict[str, Any] = {
            "task_id": str(task_id or uuid4()),
            "work_type": work_type,
            "parameters": dict(parameters or {}),
        }
        optional = {
            "priority": priority,
            "timeout_s": timeout_s,
            "trace_id": None if trace_id is None else str(trace_id),
            "retry": None if retry is None else dict(retry),
            "delay_s": delay_s,
            "not_before": not_before,
            "on_no_agent": on_no_agent,
            "concurrency": None if concurrency is None else dict(concurrency),
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        headers = {"X-Trace-Id": str(trace_id)} if trace_id else {}
        return Accepted.from_json(await self._call("POST", "/api/v1/dispatch", body, headers))

    async def status(self, task_id: UUID | str) -> TaskJson:
        """The task's current state."""
        task: TaskJson = await self._call("GET", f"/api/v1/status/{_segment(task_id)}")
        return task

    async def tasks(
        self,
        *,
        status: TaskStatus | str | None = None,
        work_type: str | None = None,
        agent_type: str | None = None,
        trace_id: UUID | str | None = None,
        waiting_reason: str | None = None,
        id_prefix: str | None = None,
        agent_id: UUID | str | None = None,
        concurrency_key: str | None = None,
        text: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        limit: int | None = None,
        page_size: int = 100,
    ) -> AsyncGenerator[TaskJson, None]:
        """Every matching task, newest first, page after page (at most `limit` if given).

        `id_prefix`: the task id starts with it; `concurrency_key`: tasks dispatched with
        that key; `text`: in the parameters, result or error
        (any case); `created_after` (inclusive) / `created_before`: aware times or ISO text."""
        filters = {
            "status": status,
            "work_type": work_type,
            "agent_type": agent_type,
            "waiting_reason": waiting_reason,
            "id": id_prefix,
            "agent": agent_id,
            "concurrency_key": concurrency_key,
            "q": text,
            "created_after": _iso(created_after),
            "created_before": _iso(created_before),
        }
        query = {k: str(v) for k, v in {**filters, "trace_id": trace_id}.items() if v is not None}
        left, cursor = limit, None
        while left is None or left > 0:
            size = page_size if left is None else min(page_size, left)
            page_query = {**query, "limit": str(size)} | ({"cursor": cursor} if cursor else {})
            page = await self._call("GET", "/api/v1/tasks", query=page_query)
            for task in page["items"]:
                yield task
            left = None if left is None else left - len(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return

    async def agents(
        self, agent_type: str | None = None, status: AgentStatus | str | None = None
    ) -> list[dict[str, Any]]:
        """The agents known from their heartbeats."""
        query = {k: str(v) for k, v in {"agent_type": agent_type, "status": status}.items() if v}
        agents: list[dict[str, Any]] = await self._call("GET", "/api/v1/agents", query=query)
        return agents

    async def cancel(self, task_id: UUID | str) -> dict[str, Any]:
        """Cancel a pending or running task: `{task_id, status, cancel_outcome}`."""
        answer: dict[str, Any] = await self._call("POST", f"/api/v1/cancel/{_segment(task_id)}")
        return answer

    async def rerun(
        self, task_id: UUID | str, new_task_id: UUID | str | None = None
    ) -> dict[str, Any]:
        """Dispatch a finished task's work again as a new task: `{task_id, trace_id,
        request_id, status, rerun_of}`. Idempotent on `new_task_id` (generated if not given)."""
        body = {"task_id": str(new_task_id or uuid4())}
        path = f"/api/v1/tasks/{_segment(task_id)}/rerun"
        answer: dict[str, Any] = await self._call("POST", path, body)
        return answer

    async def create_schedule(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create a schedule from its flat body (docs/api.md#schedules); the schedule."""
        answer: dict[str, Any] = await self._call("POST", "/api/v1/schedules", dict(body))
        return answer

    async def schedules(self) -> list[dict[str, Any]]:
        """Every schedule, oldest first."""
        page: dict[str, Any] = await self._call("GET", "/api/v1/schedules")
        items: list[dict[str, Any]] = page["items"]
        return items

    async def schedule(self, schedule_id: UUID | str) -> dict[str, Any]:
        """A schedule with `upcoming` (next fire times) and `last_runs` (its latest tasks)."""
        path = f"/api/v1/schedules/{_segment(schedule_id)}"
        answer: dict[str, Any] = await self._call("GET", path)
        return answer

    async def schedule_action(self, schedule_id: UUID | str, action: str) -> dict[str, Any]:
        """`pause` or `resume` (answers the schedule), or `trigger` (answers the new task)."""
        path = f"/api/v1/schedules/{_segment(schedule_id)}/{_segment(action)}"
        answer: dict[str, Any] = await self._call("POST", path)
        return answer

    async def delete_schedule(self, schedule_id: UUID | str) -> None:
        """Delete a schedule (its tasks stay)."""
        await self._call("DELETE", f"/api/v1/schedules/{_segment(schedule_id)}")

    async def audit(
        self,
        since: datetime | str | None = None,
        trace_id: UUID | str | None = None,
        *,
        settled: bool = False,
    ) -> dict[str, Any]:
        """The history checker's report: `{at, tasks_checked, violations: [{task_id, rule,
        revisions, message}]}` (no violations: every promise held)."""
        query = {"since": _iso(since), "trace_id": None if trace_id is None else str(trace_id)}
        params = {k: v for k, v in query.items() if v is not None}
        if settled:
            params["settled"] = "true"
        answer: dict[str, Any] = await self._call("GET", "/api/v1/audit", query=params)
        return answer

    def watch(
        self, *, task_id: UUID | str | None = None, trace_id: UUID | str | None = None
    ) -> AsyncGenerator[TaskJson, None]:
        """Task states live from /api/v1/ws: one task, one trace or (neither) every task.

        Yields the snapshot's tasks, then every change; survives dropped connections (see
        watch.follow). Close it (`contextlib.aclosing`) when done to close the WebSocket."""
        from adapters.cli.client.watch import follow, subscription  # loads aiohttp

        return follow(self._connect, subscription(task_id, trace_id), self.url, self._explain)

    async def wait(self, task_id: UUID | str, timeout: float | None = None) -> TaskJson:  # noqa: ASYNC109
        """The task once it is final (completed, failed, cancelled, timed_out).

        Raises TimeoutError after `timeout` seconds (the task goes on)."""
        async with asyncio.timeout(timeout):
            async with contextlib.aclosing(self.watch(task_id=task_id)) as states:
                async for task in states:
                    if task.get("status") in FINAL:
                        return task
        raise AssertionError("watch ended")  # follow() never ends on its own

    def _connect(self) -> AbstractAsyncContextManager[aiohttp.ClientWebSocketResponse]:
        import aiohttp

        if self._session is None:
            # No session-wide total timeout: it would also bound the life of a WebSocket.
            self._session = aiohttp.ClientSession(headers=self._headers)
        return self._session.ws_connect(f"{self.url}/api/v1/ws", heartbeat=15.0)

    async def _explain(self, exc: aiohttp.WSServerHandshakeError) -> Exception:
        """The API error behind a refused upgrade: the same GET without upgrade carries it."""
        try:
            await self._call("GET", "/api/v1/ws")
        except ApiError as error:
            return error
        return ApiError(exc.status, None, f"WebSocket upgrade refused: {exc.status} {exc.message}")

    async def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> Any:
        # Every POST says JSON, body or not: servers before bodyless POSTs insisted on it.
        headers = {**(JSON_HEADERS if method == "POST" else {}), **(headers or {})}
        data = None if body is None else json.dumps(body).encode()
        answer = await self._rest.request(method, path, data, headers, query)
        if answer.status == 204:
            return None
        parsed = _json_or_none(answer.text)
        if answer.status >= 400 or parsed is None:
            raise ApiError.from_body(answer.status, parsed, answer.reason)
        return parsed


def _iso(value: datetime | str | None) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def _segment(task_id: UUID | str) -> str:
    """An id as one path segment, whatever it holds (`../agents` stays a bad id: 400)."""
    return quote(str(task_id), safe="")


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None
