"""A POST whose operation takes no body (cancel) works as curl, httpx and requests send it:
no body, no Content-Type. A body still has to be JSON, and a browser page of another origin
is refused (without a body type to insist on, the Origin keeps cross-site pages out)."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest
from aiohttp.test_utils import TestClient

from tests.http.conftest import Factory


async def pending_task(api: TestClient) -> str:
    task_id = str(uuid.uuid4())
    body = {"task_id": task_id, "work_type": "sleep", "parameters": {"seconds": 30}, "delay_s": 60}
    answer = await api.post("/api/v1/dispatch", json=body)
    assert answer.status == 200, await answer.text()
    return task_id


async def raw_request(api: TestClient, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `request` byte for byte; the status, headers and body of the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", api.port)
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)}
    body = await reader.readexactly(int(headers["content-length"]))
    writer.close()
    return int(lines[0].split()[1]), headers, body


async def test_curls_exact_request_cancels(api: TestClient) -> None:
    task_id = await pending_task(api)
    curl = (  # what `curl -X POST http://127.0.0.1:PORT/api/v1/cancel/ID` sends (curl 7.88)
        f"POST /api/v1/cancel/{task_id} HTTP/1.1\r\nHost: 127.0.0.1:{api.port}\r\n"
        "User-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n"
    ).encode()
    status, _, body = await raw_request(api, curl)
    assert status == 200, body
    answer = json.loads(body)
    assert answer == {"task_id": task_id, "status": "cancelled", "cancel_outcome": "not_started"}


async def test_httpx_post_without_a_body_cancels(api: TestClient) -> None:
    task_id = await pending_task(api)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api.port}") as http:
        answer = await http.post(f"/api/v1/cancel/{task_id}")
    assert answer.status_code == 200, answer.text
    assert "content-type" not in answer.request.headers  # what httpx really sent
    assert answer.json()["status"] == "cancelled"


async def test_a_json_body_is_still_welcome_and_any_other_body_is_415(api: TestClient) -> None:
    first, second = await pending_task(api), await pending_task(api)
    plain = await api.post(
        f"/api/v1/cancel/{first}", data=b"please", headers={"Content-Type": "text/plain"}
    )
    assert plain.status == 415 and (await plain.json())["error_code"] == 1005
    form = await api.post(f"/api/v1/cancel/{first}", data={"a": "b"})
    assert form.status == 415
    assert (await api.post(f"/api/v1/cancel/{first}", json={})).status == 200
    aiohttp_default = await api.post(f"/api/v1/cancel/{second}")  # says octet-stream, no body
    assert aiohttp_default.status == 200


@pytest.mark.parametrize("origin", ["https://evil.example", "null"])
async def test_a_bodyless_post_from_another_origin_is_refused(
    make_api: Factory, origin: str
) -> None:
    api, _ = await make_api(allowed_origins="https://ops.example.com")
    task_id = await pending_task(api)
    refused = await api.post(f"/api/v1/cancel/{task_id}", headers={"Origin": origin})
    assert refused.status == 403 and (await refused.json())["error_code"] == 4030
    status = await (await api.get(f"/api/v1/status/{task_id}")).json()
    assert status["status"] == "pending"  # nothing happened
    for allowed in ("https://ops.example.com", f"http://127.0.0.1:{api.port}"):
        other = await pending_task(api)
        answer = await api.post(f"/api/v1/cancel/{other}", headers={"Origin": allowed})
        assert answer.status == 200, allowed


async def test_a_post_that_takes_a_body_still_needs_json(api: TestClient) -> None:
    bare = await api.post("/api/v1/dispatch")
    assert bare.status == 415 and (await bare.json())["error_code"] == 1005
