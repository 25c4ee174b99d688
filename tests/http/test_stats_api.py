"""GET /api/v1/stats on both stores: counts per interval, run time, queue depth over time."""

from __future__ import annotations

from datetime import datetime

import pytest
from aiohttp.test_utils import TestClient

from tests.helpers import eventually
from tests.http.test_dispatch_api import status_of
from tests.http.test_query_and_cancel_api import dispatch, get_json


async def test_stats_count_what_happened_per_interval(api: TestClient) -> None:
    done = [await dispatch(api, parameters={"i": i}) for i in range(3)]
    failed = await dispatch(api, work_type="fail")
    waiting = [await dispatch(api, work_type="ansible") for _ in range(2)]
    cancelled = await dispatch(api, work_type="ansible")
    await api.post(f"/api/v1/cancel/{cancelled}", json={})
    for task_id in [*done, failed]:
        await eventually(
            lambda t=task_id: status_of(api, t), lambda s: s["status"] in ("completed", "failed")
        )
    stats = await get_json(api, "/api/v1/stats?window=10m&step=1m")
    assert (stats["window_s"], stats["step_s"], len(stats["intervals"])) == (600, 60, 10)
    starts = [datetime.fromisoformat(i["start"]) for i in stats["intervals"]]
    assert all(s.timestamp() % 60 == 0 for s in starts), starts  # aligned on the step
    assert datetime.fromisoformat(stats["end"]) > datetime.fromisoformat(stats["start"])

    def total(key: str) -> int:
        return sum(i[key] for i in stats["intervals"])

    assert total("dispatched") == 7
    assert (total("completed"), total("failed"), total("cancelled")) == (3, 1, 1)
    assert total("timed_out") == 0
    ran = [i for i in stats["intervals"] if i["completed"] or i["failed"]]
    assert ran and all(i["p50_ms"] is not None and i["p95_ms"] >= i["p50_ms"] for i in ran)
    assert stats["pending_now"] == {"infra": len(waiting)}
    infra = stats["queue_depth"]["infra"]
    assert len(infra) == 10 and infra[-1] == 2 and infra[0] == 0
    assert stats["queue_depth"]["demo"][-1] == 0


async def test_stats_defaults_and_units(api: TestClient) -> None:
    default = await get_json(api, "/api/v1/stats")
    assert (default["window_s"], default["step_s"], len(default["intervals"])) == (3600, 60, 60)
    hours = await get_json(api, "/api/v1/stats?window=7d&step=1h")
    assert len(hours["intervals"]) == 168 and hours["step_s"] == 3600
    seconds = await get_json(api, "/api/v1/stats?window=90&step=30s")
    assert (seconds["window_s"], len(seconds["intervals"])) == (90, 3)


@pytest.mark.parametrize(
    "query",
    ["window=8d", "window=0", "step=0", "step=2d", "window=1h&step=1s", "window=soon", "step=-5"],
)
async def test_stats_beyond_the_limits_are_400(api: TestClient, query: str) -> None:
    err = await get_json(api, f"/api/v1/stats?{query}", 400)
    assert err["error_code"] == 1000 and err["details"], err
