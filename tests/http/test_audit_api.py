"""GET /api/v1/audit: the history checker over real histories, on memory and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from chiffon.model import EventDraft, TaskStatus
from chiffon.patch import TaskPatch
from tests.helpers import eventually
from tests.http.conftest import Factory
from tests.http.test_query_and_cancel_api import dispatch, get_json

FINAL = ("completed", "failed", "cancelled", "timed_out")


async def test_real_histories_have_no_violation_and_a_broken_one_is_named(
    make_api: Factory,
) -> None:
    api, wired = await make_api()
    trace = str(uuid.uuid4())
    ids = [
        await dispatch(api, work_type="echo", trace_id=trace),
        await dispatch(
            api, work_type="fail", retry={"max_attempts": 2, "on": ["failed"]}, trace_id=trace
        ),
        await dispatch(api, work_type="sleep", parameters={"seconds": 30, "step_s": 0.05}),
    ]
    await eventually(
        lambda: get_json(api, f"/api/v1/status/{ids[2]}"), lambda t: t["status"] == "running", 5
    )
    assert (await api.post(f"/api/v1/cancel/{ids[2]}")).status == 200

    async def states() -> list[dict[str, Any]]:
        return [await get_json(api, f"/api/v1/status/{i}") for i in ids]

    done = await eventually(
        states,
        lambda ts: all(t["status"] in FINAL for t in ts) and ts[2]["cancel_outcome"] != "requested",
        5,
    )
    assert done[1]["attempt"] == 2

    report = await get_json(api, "/api/v1/audit?settled=true")
    assert report == {"at": report["at"], "tasks_checked": 3, "violations": []}
    by_trace = await get_json(api, f"/api/v1/audit?trace_id={trace}")
    assert by_trace["tasks_checked"] == 2
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert (await get_json(api, f"/api/v1/audit?since={later}"))["tasks_checked"] == 0

    # A change written behind the ledger's back, after the echo completed: caught and named.
    echo = uuid.UUID(ids[0])
    task = await wired.tasks.get(echo)
    assert task is not None and task.status is TaskStatus.COMPLETED
    note = EventDraft("progress", datetime.now(UTC), TaskStatus.RUNNING, {"status": "running"})
    patch = TaskPatch(status=TaskStatus.RUNNING)
    assert await wired.tasks.apply(echo, task.revision, patch, note) is not None
    broken = await get_json(api, f"/api/v1/audit?trace_id={trace}")
    rules = {(v["task_id"], v["rule"]) for v in broken["violations"]}
    assert (ids[0], "one_terminal_state") in rules
    first = next(v for v in broken["violations"] if v["rule"] == "one_terminal_state")
    assert first["revisions"] == [task.revision, task.revision + 1]
    assert "ended completed" in first["message"]


async def test_bad_audit_requests(make_api: Factory) -> None:
    api, _ = await make_api()
    for bad in ("since=yesterday", "trace_id=x", "settled=maybe", "x=1", "since=2026-01-01T00:00"):
        answer = await api.get(f"/api/v1/audit?{bad}")
        assert (answer.status, (await answer.json())["error_code"]) == (400, 1000), bad
