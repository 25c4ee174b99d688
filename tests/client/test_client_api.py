"""The Python client against the real app: dispatch, status, paging, agents, cancel, errors."""

from __future__ import annotations

import socket
import uuid
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from adapters.cli.client import Accepted, ApiError, Client, ServerUnreachable
from tests.client.conftest import Serve
from tests.helpers import eventually


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_dispatch_then_wait_gives_the_completed_task(serve: Serve) -> None:
    served = await serve()
    async with Client(served.url) as chiffon:
        accepted = await chiffon.dispatch("echo", {"hello": "world"})
        assert accepted.status == "pending"
        assert isinstance(accepted.trace_id, uuid.UUID) and accepted.raw["status"] == "pending"
        done = await chiffon.wait(accepted.task_id, timeout=5)
        assert done["status"] == "completed" and done["result"] == {"hello": "world"}
        assert (await chiffon.status(accepted.task_id))["result"] == {"hello": "world"}


async def test_dispatch_sends_the_given_ids_and_options_and_is_idempotent(serve: Serve) -> None:
    served = await serve(demo_agent=False)
    task_id, trace_id = uuid.uuid4(), uuid.uuid4()
    async with Client(served.url) as chiffon:
        options: dict[str, Any] = {"priority": 5, "timeout_s": 30.0, "trace_id": trace_id}
        first = await chiffon.dispatch("echo", {"n": 1}, task_id=task_id, **options)
        again = await chiffon.dispatch("echo", {"n": 1}, task_id=str(task_id), **options)
        assert first == again == Accepted(task_id, trace_id, first.request_id, "pending")
        task = await chiffon.status(task_id)
        assert (task["priority"], task["timeout_s"], task["trace_id"]) == (5, 30.0, str(trace_id))
        with pytest.raises(ApiError) as reused:
            await chiffon.dispatch("echo", {"n": 2}, task_id=task_id)
        assert (reused.value.status, reused.value.error_code) == (409, 1003)


async def test_tasks_follows_next_cursor_over_every_page(serve: Serve) -> None:
    served = await serve(demo_agent=False)
    trace = uuid.uuid4()
    async with Client(served.url) as chiffon:
        ids = [str((await chiffon.dispatch("echo", trace_id=trace)).task_id) for _ in range(7)]
        await chiffon.dispatch("sleep")
        newest_first = ids[::-1]
        every = [t["task_id"] async for t in chiffon.tasks(work_type="echo", page_size=3)]
        assert every == newest_first
        some = [t["task_id"] async for t in chiffon.tasks(limit=5, page_size=2, trace_id=trace)]
        assert some == newest_first[:5]
        assert len([t async for t in chiffon.tasks(status="pending")]) == 8
        assert [t async for t in chiffon.tasks(status="completed")] == []


async def test_agents_lists_the_demo_agent_with_its_resources(serve: Serve) -> None:
    served = await serve()
    async with Client(served.url) as chiffon:
        agents = await eventually(lambda: chiffon.agents(agent_type="demo"), bool)
        assert agents[0]["status"] == "online" and "cpu_percent" in agents[0]["resources"]
        assert await chiffon.agents(status="offline") == []
        with pytest.raises(ApiError) as bad:
            await chiffon.agents(status="asleep")
        assert (bad.value.status, bad.value.error_code) == (400, 1000)


async def test_cancel_and_every_error_is_one_api_error_with_its_fields(serve: Serve) -> None:
    served = await serve(demo_agent=False)
    trace = uuid.uuid4()
    async with Client(served.url) as chiffon:
        accepted = await chiffon.dispatch("echo")
        answer = await chiffon.cancel(accepted.task_id)
        cancelled = {"task_id": str(accepted.task_id), "status": "cancelled"}
        assert answer == {**cancelled, "cancel_outcome": "not_started"}
        with pytest.raises(ApiError) as again:
            await chiffon.cancel(accepted.task_id)
        assert (again.value.status, again.value.error_code) == (400, 2002)
        assert again.value.details and again.value.trace_id
        with pytest.raises(ApiError) as unknown:
            await chiffon.dispatch("no-such-work", trace_id=trace)
        error = unknown.value
        assert (error.status, error.error_code, error.trace_id) == (400, 1001, str(trace))
        assert "no-such-work" in error.error_message and "error_code 1001" in str(error)
        with pytest.raises(ApiError) as missing:
            await chiffon.status(uuid.uuid4())
        assert (missing.value.status, missing.value.error_code) == (404, 2001)
        with pytest.raises(ApiError) as sneaky:  # stays one path segment: a bad id, not /agents
            await chiffon.status("../agents")
        assert (sneaky.value.status, sneaky.value.error_code) == (400, 1000)
        with pytest.raises(ApiError) as bad:
            await chiffon.dispatch("echo", priority=9)
        assert bad.value.error_code == 1000 and "priority" in bad.value.details


async def test_wait_returns_a_failed_task_and_times_out_on_a_stuck_one(serve: Serve) -> None:
    served = await serve()
    async with Client(served.url) as chiffon:
        failed = await chiffon.wait((await chiffon.dispatch("fail")).task_id, timeout=5)
        assert (failed["status"], failed["error_message"]) == ("failed", "failed on purpose")
        slow = await chiffon.dispatch("sleep", {"seconds": 5})
        with pytest.raises(TimeoutError):
            await chiffon.wait(slow.task_id, timeout=0.3)
        assert (await chiffon.status(slow.task_id))["status"] in ("pending", "running")


async def test_nothing_listening_is_server_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with Client(url) as chiffon:
        with pytest.raises(ServerUnreachable) as refused:
            await chiffon.status(uuid.uuid4())
        assert refused.value.url == url
        with pytest.raises(ServerUnreachable):
            await chiffon.dispatch("echo")
        with pytest.raises(ServerUnreachable):
            await anext(chiffon.watch())


async def test_the_token_goes_on_every_call_and_the_websocket_upgrade(serve: Serve) -> None:
    served = await serve(api_token="s3cret")
    async with Client(served.url) as anonymous:
        with pytest.raises(ApiError) as refused:
            await anonymous.dispatch("echo")
        assert (refused.value.status, refused.value.error_code) == (401, 4010)
        with pytest.raises(ApiError) as upgrade:
            await anext(anonymous.watch())
        assert (upgrade.value.status, upgrade.value.error_code) == (401, 4010)
    async with Client(served.url, token="s3cret") as chiffon:
        accepted = await chiffon.dispatch("echo", {"a": 1})
        assert (await chiffon.wait(accepted.task_id, timeout=5))["result"] == {"a": 1}
        assert [t["task_id"] async for t in chiffon.tasks()] == [str(accepted.task_id)]
        assert await chiffon.agents()
        with pytest.raises(ApiError) as finished:  # authorised: the answer is about the task
            await chiffon.cancel(accepted.task_id)
        assert finished.value.error_code == 2002


async def test_posts_pass_a_server_that_requires_json_content_type(serve: Serve) -> None:
    @web.middleware
    async def require_json(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.method == "POST" and request.content_type != "application/json":
            return web.json_response({"error_code": 1000, "error_message": "415"}, status=415)
        return await handler(request)  # type: ignore[no-any-return]

    served = await serve(demo_agent=False, middlewares=[require_json])
    async with aiohttp.ClientSession() as raw:  # the check is in place
        resp = await raw.post(f"{served.url}/api/v1/dispatch", data=b"{}")
        assert resp.status == 415
    async with Client(served.url) as chiffon:
        accepted = await chiffon.dispatch("echo")
        assert (await chiffon.cancel(accepted.task_id))["status"] == "cancelled"


async def test_an_answer_that_is_not_chiffon_is_still_an_api_error(aiohttp_server: Any) -> None:
    async def bad_gateway(_: web.Request) -> web.Response:
        return web.Response(text="<html>", status=502)

    app = web.Application()
    app.router.add_get("/api/v1/agents", bad_gateway)
    server = await aiohttp_server(app)
    async with Client(str(server.make_url(""))) as chiffon:
        with pytest.raises(ApiError) as error:
            await chiffon.agents()
    assert (error.value.status, error.value.error_code) == (502, None)
    assert "not a chiffon API answer" in error.value.error_message
