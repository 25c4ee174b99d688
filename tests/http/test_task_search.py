"""GET /api/v1/tasks as a search: every filter, alone and together, with cursor pages, on
both stores."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient

from tests.helpers import eventually
from tests.http.test_dispatch_api import status_of
from tests.http.test_query_and_cancel_api import dispatch, get_json


async def ids(api: TestClient, **query: str) -> list[str]:
    page = await get_json(api, f"/api/v1/tasks?{urlencode(query)}")
    return [t["task_id"] for t in page["items"]]


async def finished(api: TestClient, task_id: str) -> dict[str, Any]:
    return await eventually(
        lambda: status_of(api, task_id), lambda t: t["status"] in ("completed", "failed")
    )


async def test_search_by_id_prefix_agent_time_and_text(api: TestClient) -> None:
    started = datetime.now(UTC)
    trace = str(uuid.uuid4())
    echo = await dispatch(api, parameters={"host": "web-01.example", "n": 1}, trace_id=trace)
    fail = await dispatch(api, work_type="fail", parameters={"message": "Disk FULL on /var"})
    waiting = await dispatch(api, work_type="ansible", parameters={"playbook": "site_100%.yml"})
    ran = await finished(api, echo)
    await finished(api, fail)

    # An id prefix, as typed: a few digits, or the dashed form, in either case.
    assert await ids(api, id=echo[:6]) == [echo]
    assert await ids(api, id=echo[:13].upper()) == [echo]
    assert await ids(api, id=echo) == [echo]
    # The agent that ran it.
    by_agent = await ids(api, agent=ran["agent_id"])
    assert echo in by_agent and fail in by_agent and waiting not in by_agent
    # Text in parameters, result or error: a substring, any case; % and _ are plain text.
    assert await ids(api, q="web-01") == [echo]
    assert await ids(api, q="disk full") == [fail]
    assert await ids(api, q="100%") == [waiting]
    assert await ids(api, q="site_") == [waiting]
    assert await ids(api, q="site%") == []
    assert await ids(api, q="nothing like it") == []
    # A time range: created_after inclusive, created_before exclusive.
    assert await ids(api, created_after=started.isoformat()) == [waiting, fail, echo]
    assert await ids(api, created_before=started.isoformat()) == []
    cut = ran["created_at"]
    assert await ids(api, created_after=cut) == [waiting, fail, echo]
    assert await ids(api, created_before=cut) == []
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert await ids(api, created_after=later) == []
    # Filters combine.
    assert await ids(api, trace_id=trace, q="web") == [echo]
    assert await ids(api, status="failed", q="disk") == [fail]
    assert await ids(api, status="completed", q="disk") == []
    assert await ids(api, work_type="ansible", waiting_reason="no_agent", q="site") == [waiting]


async def test_search_pages_with_the_cursor(api: TestClient) -> None:
    made = [
        await dispatch(api, work_type="ansible", parameters={"batch": "b7", "i": i})
        for i in range(5)
    ]
    await dispatch(api, work_type="ansible", parameters={"batch": "other"})
    seen: list[str] = []
    query = {"q": "b7", "limit": "2"}
    while True:
        page = await get_json(api, f"/api/v1/tasks?{urlencode(query)}")
        seen += [t["task_id"] for t in page["items"]]
        if page["next_cursor"] is None:
            break
        query["cursor"] = page["next_cursor"]
    assert seen == list(reversed(made))


@pytest.mark.parametrize(
    "query",
    [
        "id=xyz",
        "id=",
        "id=" + "a" * 33,
        "agent=nope",
        "created_after=2026-01-01T00:00:00",  # no offset: which zone?
        "created_before=yesterday",
        "q=",
        "q=" + "x" * 201,
        "q=%00",
    ],
)
async def test_bad_search_queries_are_400(api: TestClient, query: str) -> None:
    err = await get_json(api, f"/api/v1/tasks?{query}", 400)
    assert err["error_code"] == 1000 and err["details"]
