"""Recovery when the orchestrator holding the in-process agent stops: running tasks finish
within the drain or are handed back as lost, and the next start on the same store retries them
and sends again the work its empty in-process bus lost; memory and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp.test_utils import TestClient

from ports.agent_registry import AgentRegistry
from ports.task_repository import TaskRepository
from tests.helpers import eventually
from tests.http.conftest import Factory
from tests.http.test_dispatch_api import assert_no_violations, status_of

FINAL = ("completed", "failed", "cancelled", "timed_out")


async def _dispatch(api: TestClient, **kw: Any) -> str:
    body = {"task_id": str(uuid.uuid4()), "work_type": "sleep", **kw}
    resp = await api.post("/api/v1/dispatch", json=body)
    assert resp.status == 200, await resp.text()
    return str(body["task_id"])


async def _until(api: TestClient, task_id: str, *statuses: str) -> dict[str, Any]:
    return await eventually(lambda: status_of(api, task_id), lambda t: t["status"] in statuses, 10)


async def test_a_stop_drains_then_hands_back_and_the_next_start_retries(make_api: Factory) -> None:
    first, wired = await make_api(shutdown_grace_s=0.5)
    quick = await _dispatch(first, parameters={"seconds": 0.2, "step_s": 0.1})
    slow = await _dispatch(first, parameters={"seconds": 1.0, "step_s": 0.1})
    waiting = await _dispatch(first, work_type="echo", delay_s=0.3)  # its work: sent later
    for task_id in (quick, slow):
        await _until(first, task_id, "running")
    old_agent = (await status_of(first, slow))["agent_id"]
    await first.close()  # Ctrl-C: the drain finishes `quick`, hands `slow` back as lost

    done = await wired.tasks.get(uuid.UUID(quick))
    lost = await wired.tasks.get(uuid.UUID(slow))
    assert done is not None and (done.status, done.attempt) == ("completed", 1)
    assert lost is not None and (lost.status, lost.attempt) == ("pending", 2)
    [agent] = [a for a in await wired.agents.find() if str(a.agent_id) == old_agent]
    assert (agent.status, agent.running_tasks) == ("offline", ())

    second, _ = await make_api(instances={TaskRepository: wired.tasks, AgentRegistry: wired.agents})
    again = await _until(second, slow, *FINAL)
    assert (again["status"], again["attempt"]) == ("completed", 2)
    assert again["agent_id"] != old_agent
    assert (await _until(second, waiting, *FINAL))["status"] == "completed"
    kinds = [
        e["kind"]
        for e in (await (await second.get(f"/api/v1/tasks/{slow}/events")).json())["items"]
    ]
    assert kinds.count("started") == 2 and "retried" in kinds
    await assert_no_violations(second, settled=True)


async def test_work_the_in_process_bus_held_is_sent_again_at_the_next_start(
    make_api: Factory,
) -> None:
    first, wired = await make_api(demo_agent=False)  # nobody takes it: it waits in the bus
    task_id = await _dispatch(first, work_type="echo", parameters={"n": 1})
    assert await eventually(lambda: wired.tasks.counts(), lambda c: c.outbox_unsent == 0)
    await first.close()
    second, _ = await make_api(instances={TaskRepository: wired.tasks, AgentRegistry: wired.agents})
    done = await _until(second, task_id, *FINAL)
    assert (done["status"], done["attempt"], done["result"]) == ("completed", 1, {"n": 1})
    await assert_no_violations(second, settled=True)
