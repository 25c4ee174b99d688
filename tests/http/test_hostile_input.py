"""Bad input from anyone: every class of it is a 4xx naming the field, on memory and PostgreSQL,
and nothing bad is stored (listing and status keep answering)."""

from __future__ import annotations

import asyncio
import base64
import itertools
import uuid
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.http.conftest import Factory

JSON = {"Content-Type": "application/json"}


_BODY_IDS = itertools.count(1)


def body(parameters: str = "{}", **extra: str) -> str:
    """A dispatch body as text, so values json.dumps cannot write can be sent. Its task id is
    numbered, not random, so parametrized test ids are the same in every collection (xdist)."""
    fields = {
        "task_id": f'"{uuid.UUID(int=next(_BODY_IDS))}"',
        "work_type": '"echo"',
        "parameters": parameters,
        **extra,
    }
    return "{" + ", ".join(f'"{k}": {v}' for k, v in fields.items()) + "}"


async def post(api: TestClient, text: str | bytes, headers: dict[str, str] | None = None) -> Any:
    resp = await api.post("/api/v1/dispatch", data=text, headers=headers or JSON)
    return resp.status, await resp.json()


@pytest.mark.parametrize(
    ("text", "field", "says"),
    [
        (body('{"a": NaN}'), "parameters", "NaN is not JSON"),
        (body('{"a": [Infinity]}'), "parameters", "Infinity is not JSON"),
        (body('{"a": "\\u0000"}'), "parameters", "NUL"),
        (body('{"a": "\\ud800"}'), "parameters", "surrogates"),
        (body('{"a": 1, "a": 2}'), "parameters", "duplicate key"),
        (body('{"a": ' + "[" * 300 + "]" * 300 + "}"), "parameters", "nested more than 64"),
        (body('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"), "body", "nested more than 64"),
        (body('{"n": ' + "7" * 5000 + "}"), "parameters", "integer out of range"),
        (body(timeout_s="1e400"), "timeout_s", "number out of range"),
        (body(timeout_s="1" + "0" * 4000), "timeout_s", "integer out of range"),
        (body(timeout_s="1e12"), "timeout_s", ""),
        (body(priority="99999999999999999999"), "priority", "integer out of range"),
        (body(priority="9"), "priority", ""),
        ('{"task_id": "x", "task_id": "y", "work_type": "echo"}', "body", "duplicate key"),
        (body(work_type='"ec\\u0000ho"'), "work_type", "NUL"),
        (body(work_type='"ec\\u0007ho"'), "work_type", "control characters"),
        (b'{"task_id": "\xff"}', "body", "UTF-8"),
        ("", "body", "empty"),
        ("[]", "body", "JSON object"),
    ],
)
async def test_bad_dispatch_bodies_are_400_naming_the_field(
    api: TestClient, text: str, field: str, says: str
) -> None:
    status, answer = await post(api, text)
    assert (status, answer["error_code"]) == (400, 1000), answer
    assert field in answer["details"], answer
    assert says in answer["error_message"] + str(answer["details"])
    assert (await api.get("/api/v1/tasks")).status == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "text/plain"},
        {"Content-Type": "application/x-www-form-urlencoded"},
        {"Content-Type": "multipart/form-data; boundary=x"},
        {},
        {"Content-Type": "application/json; charset=latin-1"},
        {"Content-Type": "application/json", "Content-Encoding": "gzip"},
        {"Content-Type": "application/json", "Content-Encoding": "x-unknown"},
    ],
)
async def test_posts_must_say_they_carry_json(api: TestClient, headers: dict[str, str]) -> None:
    resp = await api.post("/api/v1/dispatch", data=body().encode(), headers=headers)
    answer = await resp.json()
    assert (resp.status, answer["error_code"]) == (415, 1005), answer
    cancel = await api.post(f"/api/v1/cancel/{uuid.uuid4()}", data=b"{}", headers=headers)
    assert cancel.status == 415  # a body, if any, is JSON
    bodyless = await api.post(f"/api/v1/cancel/{uuid.uuid4()}", headers=headers)
    assert bodyless.status == 404  # no body: whatever the header says (curl sends none)
    assert (await api.get("/api/v1/tasks")).status == 200


async def test_an_encoding_the_parser_cannot_decode_is_a_json_400(api: TestClient) -> None:
    # aiohttp refuses brotli (without the Brotli package) while parsing, before any handler.
    headers = {"Content-Type": "application/json", "Content-Encoding": "br"}
    resp = await api.post("/api/v1/dispatch", data=b"\x00garbage", headers=headers)
    answer = await resp.json()
    assert (resp.status, answer["error_code"]) == (400, 1000), answer


async def test_a_reused_task_id_with_true_instead_of_1_is_a_conflict(api: TestClient) -> None:
    task_id = str(uuid.uuid4())
    first = {"task_id": task_id, "work_type": "echo", "parameters": {"x": 1}}
    assert (await api.post("/api/v1/dispatch", json=first)).status == 200
    again = await api.post("/api/v1/dispatch", json={**first, "parameters": {"x": 1.0}})
    assert again.status == 200  # the same JSON number
    other = await api.post("/api/v1/dispatch", json={**first, "parameters": {"x": True}})
    assert (other.status, (await other.json())["error_code"]) == (409, 1003)


def cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "query",
    [
        "work_type=%00",
        "agent_type=a%00b",
        "work_type=line%0Abreak",
        "work_type=" + "w" * 201,
        "cursor=%00",
        "cursor=!!!",
        "cursor=" + "A" * 400,
        "cursor=" + cursor("0001-01-01T00:00:00+14:00|" + str(uuid.UUID(int=1))),
        "cursor=" + cursor("9999-12-31T23:59:59-14:00|" + str(uuid.UUID(int=2))),
        "cursor=" + cursor("2026-01-01T00:00:00|" + str(uuid.UUID(int=3))),
        "cursor=" + cursor("2026-01-01T00:00:00+00:00|not-a-uuid"),
        "limit=" + "9" * 5000,
        "limit=0",
        "trace_id=%00",
        "status=%00",
    ],
)
async def test_bad_queries_are_400_on_every_store(api: TestClient, query: str) -> None:
    resp = await api.get(f"/api/v1/tasks?{query}")
    answer = await resp.json()
    assert (resp.status, answer["error_code"]) == (400, 1000), answer
    name = query.split("=", 1)[0]
    assert name in answer["details"], answer


async def test_agent_filters_refuse_nul_on_every_store(api: TestClient) -> None:
    resp = await api.get("/api/v1/agents?agent_type=%00")
    assert (resp.status, (await resp.json())["details"].keys()) == (400, {"agent_type"})


async def test_trace_ids_from_headers_are_used_only_when_they_are_uuids(api: TestClient) -> None:
    mine = str(uuid.uuid4())
    resp = await api.get("/api/v1/status/nope", headers={"X-Trace-Id": mine.upper()})
    assert (await resp.json())["trace_id"] == mine
    for bad in ("x" * 5000, "<script>", "abc\u00e9", mine + "0"):
        resp = await api.get("/api/v1/status/nope", headers={"X-Trace-Id": bad})
        trace = (await resp.json())["trace_id"]
        assert trace != bad and str(uuid.UUID(trace)) == trace
    resp = await api.get("/api/v1/status/nope", headers={"X-Request-Id": mine})
    assert resp.headers["X-Request-Id"] == mine  # the request's id, not a trace id
    assert (await resp.json())["trace_id"] != mine


async def test_405_says_which_methods_are_allowed(api: TestClient) -> None:
    resp = await api.delete("/api/v1/dispatch")
    answer = await resp.json()
    assert resp.status == 405 and answer["error_code"] == 1000
    assert resp.headers["Allow"] == "POST"


async def raw_request(api: TestClient, request: bytes) -> tuple[int, bytes, bytes]:
    """Send bytes as they are (no client library fixing them up); returns status, head, body."""
    assert api.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", api.port)
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(5):
            data = await reader.read(-1)
    finally:
        writer.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), head, rest


async def test_auth_survives_any_bytes_and_says_bearer(make_api: Factory) -> None:
    client, _ = await make_api(api_token="s3cret")
    for value in (b"Bearer \xff\xfe", b"\xc3\x28", b"Bearer s3cret\xff", b"Basic s3cret"):
        status, head, payload = await raw_request(
            client,
            b"GET /api/v1/tasks HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Authorization: " + value + b"\r\n\r\n",
        )
        assert status == 401, (value, head)
        assert b'www-authenticate: bearer realm="chiffon"' in head.lower()
        assert b'"error_code": 4010' in payload
    for scheme in ("bearer", "BEARER", "Bearer"):
        ok = await client.get("/api/v1/tasks", headers={"Authorization": f"{scheme} s3cret"})
        assert ok.status == 200, scheme


async def test_one_poison_dispatch_among_200_concurrent_good_ones(api: TestClient) -> None:
    good = [body(f'{{"n": {i}}}') for i in range(200)]
    poison = body('{"jsonb refuses": "\\u0000"}')
    answers = await asyncio.gather(*(post(api, b) for b in [*good[:100], poison, *good[100:]]))
    assert [s for s, _ in answers].count(200) == 200
    assert answers[100][0] == 400 and answers[100][1]["details"].keys() == {"parameters"}
    listed = await (await api.get("/api/v1/tasks?limit=500")).json()
    assert len(listed["items"]) == 200
