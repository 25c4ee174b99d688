"""Only the agent holding a task's current attempt reports on it: a report from another agent,
about a stale attempt, from a lost agent coming back, or about work never sent is refused,
never applied, counted in /metrics and recorded in the task's timeline; memory and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp.test_utils import TestClient

from adapters.memory.bus import InMemoryAgentBus
from chiffon.model import AgentStatus, Heartbeat, ResultStatus, StatusUpdate, WorkResult
from composition_root import Orchestrator
from tests.helpers import eventually, lease, new_agent
from tests.http.conftest import Factory
from tests.http.test_dispatch_api import assert_no_violations, status_of
from tests.http.test_metrics import scrape, value


class FakeAgentProcess:
    """An agent's reports put on the in-memory bus by hand, as a real agent's would be."""

    def __init__(self, wired: Orchestrator) -> None:
        assert wired.broker is not None
        # A real agent's credentials: its key proves its id, and each attempt's work came with
        # its lease (the broker boundary lets the reports in; the holder rule is under test).
        self.agent_id, self.key = new_agent()
        self._bus = InMemoryAgentBus(wired.broker, self.agent_id)

    async def beat(self, running: tuple[uuid.UUID, ...] = (), goodbye: bool = False) -> None:
        await self._bus.publish(
            Heartbeat(
                self.agent_id,
                "demo",
                AgentStatus.ONLINE,
                ("echo",),
                2,
                running,
                {},
                goodbye,
                agent_key=self.key,
            )
        )

    async def start(self, task: dict[str, Any], attempt: int = 1) -> None:
        await self._bus.publish(
            StatusUpdate(
                _id(task), self.agent_id, attempt, running=True, lease=_lease(task, attempt)
            )
        )

    async def progress(self, task: dict[str, Any], attempt: int, percent: int) -> None:
        await self._bus.publish(
            StatusUpdate(
                _id(task),
                self.agent_id,
                attempt,
                progress_percent=percent,
                lease=_lease(task, attempt),
            )
        )

    async def finish(self, task: dict[str, Any], attempt: int = 1, text: str = "done") -> None:
        await self._bus.publish(
            WorkResult(
                _id(task),
                uuid.UUID(task["request_id"]),
                self.agent_id,
                attempt,
                ResultStatus.COMPLETED,
                output=text,
                lease=_lease(task, attempt),
            )
        )


def _id(task: dict[str, Any]) -> uuid.UUID:
    return uuid.UUID(task["task_id"])


def _lease(task: dict[str, Any], attempt: int) -> str:
    return lease(_id(task), attempt)


async def _dispatch(api: TestClient, **kw: Any) -> dict[str, Any]:
    body = {"task_id": str(uuid.uuid4()), "work_type": "echo", **kw}
    resp = await api.post("/api/v1/dispatch", json=body)
    assert resp.status == 200, await resp.text()
    return await status_of(api, body["task_id"])


async def _events(api: TestClient, task: dict[str, Any]) -> list[dict[str, Any]]:
    answer = await (await api.get(f"/api/v1/tasks/{task['task_id']}/events")).json()
    items: list[dict[str, Any]] = answer["items"]
    return items


async def _refusals(api: TestClient, task: dict[str, Any], n: int) -> list[dict[str, Any]]:
    async def refused() -> list[dict[str, Any]]:
        return [
            e["changes"]["refused"]
            for e in await _events(api, task)
            if e["kind"] == "report_refused"
        ]

    return await eventually(refused, lambda r: len(r) >= n)


async def _until(api: TestClient, task: dict[str, Any], **want: Any) -> dict[str, Any]:
    return await eventually(
        lambda: status_of(api, task["task_id"]),
        lambda t: all(t[k] == v for k, v in want.items()),
    )


async def test_another_agents_reports_are_refused_and_the_holder_finishes(
    make_api: Factory,
) -> None:
    api, wired = await make_api(demo_agent=False)
    holder, intruder = FakeAgentProcess(wired), FakeAgentProcess(wired)
    task = await _dispatch(api)
    await holder.start(task)
    await _until(api, task, status="running", agent_id=str(holder.agent_id))
    await intruder.start(task)
    await intruder.progress(task, 1, 90)
    await intruder.finish(task, text="forged")
    refused = await _refusals(api, task, 3)
    assert [(r["report"], r["agent_id"], r["attempt"]) for r in refused] == [
        ("started", str(intruder.agent_id), 1),
        ("progress", str(intruder.agent_id), 1),
        ("finished", str(intruder.agent_id), 1),
    ]
    assert all(r["reason"] == f"attempt 1 is held by agent {holder.agent_id}" for r in refused)
    still = await status_of(api, task["task_id"])
    assert (still["status"], still["progress_percent"], still["output"]) == ("running", None, None)
    await holder.finish(task, text="real")
    done = await _until(api, task, status="completed")
    assert (done["output"], done["agent_id"]) == ("real", str(holder.agent_id))
    samples = await scrape(api)
    for report in ("started", "progress", "finished"):
        assert value(samples, "chiffon_agent_reports_refused_total", report=report) == 1
    await assert_no_violations(api, settled=True)


async def test_a_lost_agent_coming_back_is_refused_on_the_retried_and_the_failed_task(
    make_api: Factory,
) -> None:
    api, wired = await make_api(demo_agent=False)
    paused = FakeAgentProcess(wired)
    await paused.beat()
    retried = await _dispatch(api)
    last_try = await _dispatch(api, retry={"max_attempts": 1})
    for task in (retried, last_try):
        await paused.start(task)
        await _until(api, task, status="running")
    # It is lost (here: it says goodbye; a missed beat is the same loss policy) ...
    await paused.beat(running=(_id(retried), _id(last_try)), goodbye=True)
    await _until(api, retried, status="pending", attempt=2)
    failed = await _until(api, last_try, status="failed")
    assert failed["error_message"].startswith(f"agent {paused.agent_id} lost during attempt 1")
    assert failed["agent_id"] is None  # the lost agent holds nothing any more
    # ... and comes back with what it was doing: a stream of progress, then results.
    for task in (retried, last_try):
        for percent in (10, 20, 30):
            await paused.progress(task, 1, percent)
        await paused.finish(task)
    for task, status in ((retried, "pending"), (last_try, "failed")):
        refused = await _refusals(api, task, 2)
        assert [(r["report"], r["attempt"]) for r in refused] == [("progress", 1), ("finished", 1)]
        now = await status_of(api, task["task_id"])
        assert (now["status"], now["output"], now["progress_percent"]) == (status, None, None)
    samples = await scrape(api)
    assert value(samples, "chiffon_agent_reports_refused_total", report="progress") == 6
    await assert_no_violations(api)


async def test_reports_about_work_never_sent_are_refused(make_api: Factory) -> None:
    api, wired = await make_api(demo_agent=False)
    stranger = FakeAgentProcess(wired)
    later = await _dispatch(api, delay_s=3600)  # its work waits for its time
    cancelled = await _dispatch(api)
    assert (await api.post(f"/api/v1/cancel/{cancelled['task_id']}")).status == 200
    await stranger.start(later)
    await stranger.finish(cancelled)
    (early,) = await _refusals(api, later, 1)
    assert early["report"] == "started" and "is not sent before" in early["reason"]
    (late,) = await _refusals(api, cancelled, 1)
    assert late["report"] == "finished"
    assert late["reason"] == "attempt 1 is held by no agent (the task is cancelled)"
    assert (await status_of(api, later["task_id"]))["status"] == "pending"
    assert (await status_of(api, cancelled["task_id"]))["cancel_outcome"] == "not_started"
    await assert_no_violations(api)
