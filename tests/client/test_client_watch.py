"""Client.watch over /api/v1/ws: snapshot then changes, and resuming after a dropped link."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncGenerator
from typing import Any

import pytest
from aiohttp import web

from adapters.cli.client import ApiError, Client, TaskJson
from adapters.cli.client.watch import Seen
from adapters.http.ws_routes import WS_HUB
from adapters.memory.agent_registry import InMemoryAgentRegistry
from adapters.memory.task_repository import InMemoryTaskRepository
from composition_root import Settings, build_container, wire_orchestrator
from ports.agent_registry import AgentRegistry
from ports.task_repository import TaskRepository
from tests.client.conftest import HEARTBEAT_S, Serve
from tests.client.test_client_api import free_port
from tests.helpers import eventually

STEP_S = 2.0  # no single state takes longer than this to arrive


async def next_state(states: AsyncGenerator[TaskJson, None]) -> TaskJson:
    return await asyncio.wait_for(anext(states), STEP_S)


async def test_watch_a_task_yields_its_snapshot_then_every_change(serve: Serve) -> None:
    served = await serve()
    async with Client(served.url) as chiffon:
        accepted = await chiffon.dispatch("sleep", {"seconds": 0.6, "step_s": 0.2})
        seen: list[TaskJson] = []
        async with contextlib.aclosing(chiffon.watch(task_id=accepted.task_id)) as states:
            while not seen or seen[-1]["status"] != "completed":
                seen.append(await next_state(states))
    assert {s["task_id"] for s in seen} == {str(accepted.task_id)}
    progress = [s["progress_percent"] or 0 for s in seen]
    assert progress == sorted(progress) and progress[-1] == 100
    assert "running" in [s["status"] for s in seen]
    assert len({(s["updated_at"], s["status"], s["progress_percent"]) for s in seen}) == len(seen)


async def test_watch_a_trace_or_every_task(serve: Serve) -> None:
    served = await serve(demo_agent=False)
    trace = uuid.uuid4()
    async with Client(served.url) as chiffon:
        before = await chiffon.dispatch("echo", trace_id=trace)
        async with (
            contextlib.aclosing(chiffon.watch(trace_id=trace)) as traced,
            contextlib.aclosing(chiffon.watch()) as every,
        ):
            assert (await next_state(traced))["task_id"] == str(before.task_id)
            assert (await next_state(every))["task_id"] == str(before.task_id)
            other = await chiffon.dispatch("echo")
            later = await chiffon.dispatch("echo", trace_id=trace)
            assert (await next_state(every))["task_id"] == str(other.task_id)
            assert (await next_state(every))["task_id"] == str(later.task_id)
            assert (await next_state(traced))["task_id"] == str(later.task_id)


async def test_watch_refuses_both_keys_and_an_unknown_task(serve: Serve) -> None:
    served = await serve(demo_agent=False)
    async with Client(served.url) as chiffon:
        with pytest.raises(ValueError, match="not both"):
            chiffon.watch(task_id=uuid.uuid4(), trace_id=uuid.uuid4())
        with pytest.raises(ApiError) as unknown:
            await next_state(chiffon.watch(task_id=uuid.uuid4()))
        assert (unknown.value.status, unknown.value.error_code) == (404, 2001)


async def test_watch_resumes_when_the_server_drops_it_and_repeats_nothing(serve: Serve) -> None:
    served = await serve(demo_agent=False)  # the task stays pending: the same snapshot again
    hub = served.wired.app[WS_HUB]
    async with Client(served.url) as chiffon:
        accepted = await chiffon.dispatch("echo")
        async with contextlib.aclosing(chiffon.watch(task_id=accepted.task_id)) as states:
            assert (await next_state(states))["status"] == "pending"
            (first,) = hub.connections
            following = asyncio.create_task(next_state(states))
            await hub.close_all(code=1012, reason="service restart")
            await eventually(  # it subscribed again and got the same pending snapshot ...
                lambda: _async(hub.connections),
                lambda conns: len(conns) == 1 and conns[0] is not first and conns[0].subscriptions,
            )
            await chiffon.cancel(accepted.task_id)
            assert (await following)["status"] == "cancelled"  # ... which it did not repeat


async def test_watch_waits_out_a_server_restart_and_sees_what_changed_meanwhile() -> None:
    port, store = (
        free_port(),
        {TaskRepository: InMemoryTaskRepository(), AgentRegistry: InMemoryAgentRegistry()},
    )
    first = await _start(port, store)
    async with Client(f"http://127.0.0.1:{port}") as chiffon:
        accepted = await chiffon.dispatch("echo")
        async with contextlib.aclosing(chiffon.watch(task_id=accepted.task_id)) as states:
            assert (await next_state(states))["status"] == "pending"
            following = asyncio.create_task(anext(states))
            await first.cleanup()  # the WebSocket closes (1001) and connecting is refused
            await asyncio.sleep(0.5)
            assert not following.done()
            second = await _start(port, store)
            try:
                await chiffon.cancel(accepted.task_id)
                final = await asyncio.wait_for(following, 10)
                assert final["status"] == "cancelled"
            finally:
                await second.cleanup()


async def _start(port: int, instances: dict[Any, object]) -> web.AppRunner:
    settings = Settings(port=port, heartbeat_interval_s=HEARTBEAT_S, demo_agent=False)
    wired = wire_orchestrator(build_container(settings, instances))
    runner = web.AppRunner(wired.app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def _async(value: Any) -> Any:
    return value


def test_seen_orders_by_revision_when_both_have_one_else_by_updated_at() -> None:
    seen = Seen()
    at = "2026-01-01T00:00:0{}+00:00"
    base = {"task_id": "t", "attempt": 1, "status": "running", "progress_percent": 10}
    assert seen.fresh({**base, "updated_at": at.format(1)})
    assert not seen.fresh({**base, "updated_at": at.format(1)})  # the same again
    assert not seen.fresh({**base, "updated_at": at.format(0)})  # older
    assert seen.fresh({**base, "updated_at": at.format(1), "progress_percent": 20})
    assert seen.fresh({**base, "updated_at": at.format(2), "revision": 5})
    assert not seen.fresh({**base, "updated_at": at.format(3), "revision": 5})
    assert seen.fresh({**base, "updated_at": at.format(0), "revision": 6})
    assert seen.fresh({**base, "task_id": "u", "updated_at": at.format(0)})


def test_seen_forgets_the_least_recently_changed_task_beyond_its_capacity() -> None:
    seen = Seen(capacity=2)
    state = {"updated_at": "2026-01-01T00:00:00+00:00", "status": "pending"}
    running = {**state, "status": "running"}
    for task in ({**state, "task_id": "a"}, {**state, "task_id": "b"}, {**running, "task_id": "a"}):
        assert seen.fresh(task)
    assert seen.fresh({**state, "task_id": "c"})  # b, the least recently changed, is forgotten
    assert not seen.fresh({**running, "task_id": "a"}) and not seen.fresh({**state, "task_id": "c"})
    assert seen.fresh({**state, "task_id": "b"})
