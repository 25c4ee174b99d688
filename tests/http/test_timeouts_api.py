"""A task that runs out of time ends `timed_out`, with the same error and exit code whichever
side noticed first: the agent's own timer or the orchestrator's deadline."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.helpers import eventually
from tests.http.conftest import Factory
from tests.http.test_dispatch_api import assert_no_violations, body, status_of

FINAL = ("completed", "failed", "cancelled", "timed_out")
TIMED_OUT = {"status": "timed_out", "exit_code": 124, "error_message": "timed out after 0.5s"}


async def _dispatch_and_wait(api: TestClient, **kw: Any) -> dict[str, Any]:
    req = body(**kw)
    resp = await api.post("/api/v1/dispatch", json=req)
    assert resp.status == 200, await resp.text()
    return await eventually(
        lambda: status_of(api, req["task_id"]), lambda t: t["status"] in FINAL, 10
    )


def _end(task: dict[str, Any]) -> dict[str, Any]:
    return {k: task[k] for k in TIMED_OUT}


async def test_the_agents_timer_ends_a_running_task_timed_out(make_api: Factory) -> None:
    api, _ = await make_api()
    task = await _dispatch_and_wait(
        api, work_type="sleep", parameters={"seconds": 3, "step_s": 0.1}, timeout_s=0.5
    )
    assert _end(task) == TIMED_OUT
    assert task["started_at"] is not None and task["attempt"] == 1  # it ran, on the agent
    listed = await (await api.get("/api/v1/tasks", params={"status": "timed_out"})).json()
    assert task["task_id"] in [t["task_id"] for t in listed["items"]]
    await assert_no_violations(api, settled=True)


async def test_the_orchestrators_deadline_ends_the_task_the_same_way(make_api: Factory) -> None:
    api, _ = await make_api(demo_agent=False)  # nothing runs it: only the deadline can end it
    task = await _dispatch_and_wait(
        api, work_type="sleep", parameters={"seconds": 3}, timeout_s=0.5
    )
    assert _end(task) == TIMED_OUT
    assert task["started_at"] is None
    await assert_no_violations(api, settled=True)


async def test_retry_on_timed_out_retries_what_the_agents_timer_stopped(make_api: Factory) -> None:
    api, _ = await make_api()
    task = await _dispatch_and_wait(
        api,
        work_type="sleep",
        parameters={"seconds": 3, "step_s": 0.1},
        timeout_s=0.5,
        retry={"max_attempts": 2, "on": ["timed_out"]},
    )
    assert _end(task) == TIMED_OUT
    assert task["attempt"] == 2
    events = await (await api.get(f"/api/v1/tasks/{task['task_id']}/events")).json()
    kinds = [e["kind"] for e in events["items"]]
    # Attempt 1 ran and timed out, and was retried. Attempt 2 times out too, by whichever side
    # sees its time run out first: the agent's timer once it runs, or (on a busy machine,
    # before it was even sent or before its start arrived) the orchestrator's deadline; a
    # start that arrives after the end is refused and recorded, never applied.
    assert kinds.count("started") in (1, 2), kinds
    retried = next(e for e in events["items"] if e["changes"].get("attempt") == 2)
    assert (retried["kind"], retried["changes"]["exit_code"]) == ("finished", 124)  # its timer
    last = [k for k in kinds if k not in ("report_refused", "progress")][-1]
    assert last in ("finished", "timed_out"), kinds
    await assert_no_violations(api, settled=True)
