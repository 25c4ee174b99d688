"""What a browser is told and refused: security headers, the Host check (DNS rebinding) with
no token set, and wrong tokens slowed per address."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from adapters.http.auth_throttle import AUTH_THROTTLE, BURST
from adapters.http.host_check import MAX_HOSTS_KEPT
from tests.http.conftest import Factory

pytestmark = pytest.mark.parametrize("make_api", ["memory"], indirect=True)

TOKEN = "s3cret"
UPGRADE = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}


async def refused(
    client: TestClient, method: str, path: str, status: int, code: int, **kw: Any
) -> Any:
    resp = await client.request(method, path, **kw)
    body = await resp.json()
    assert resp.status == status and body["error_code"] == code, (resp.status, body)
    return resp


@pytest.mark.parametrize("path", ["/ui/", "/api/docs", "/api/v1/tasks", "/api/docs/init.js"])
async def test_every_page_says_how_little_a_browser_may_trust_it(
    make_api: Factory, path: str
) -> None:
    client, _ = await make_api()
    resp = await client.get(path)
    assert resp.status == 200
    csp = resp.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'" and "unsafe" not in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert resp.headers["X-Frame-Options"] == "DENY"


async def test_no_inline_script_or_style_in_the_pages(make_api: Factory) -> None:
    client, _ = await make_api()
    for path in ("/ui/", "/api/docs"):
        page = await (await client.get(path)).text()
        assert "<style" not in page and " style=" not in page, path
        for tag in page.split("<script")[1:]:
            assert " src=" in tag.split(">", 1)[0], (path, tag[:80])
            assert tag.split(">", 1)[1].startswith("</script>"), (path, tag[:80])


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8080", "rebind.127.0.0.1.nip.io"])
async def test_a_foreign_host_is_refused_without_a_token(make_api: Factory, host: str) -> None:
    client, _ = await make_api()
    headers = {"Host": host}
    await refused(client, "GET", "/api/v1/tasks", 403, 4031, headers=headers)
    body = {"work_type": "echo"}
    await refused(client, "POST", "/api/v1/dispatch", 403, 4031, json=body, headers=headers)
    await refused(client, "GET", "/api/v1/ws", 403, 4031, headers={**UPGRADE, **headers})
    await refused(client, "GET", "/ui/", 403, 4031, headers=headers)
    assert (await client.get("/health", headers=headers)).status == 200  # probes pass


@pytest.mark.parametrize(
    "host", ["localhost:8080", "LOCALHOST", "127.0.0.1:9", "[::1]:8080", "10.1.2.3", "ops.example"]
)
async def test_own_names_ip_literals_and_listed_hosts_pass(make_api: Factory, host: str) -> None:
    client, _ = await make_api(allowed_hosts="ops.example, other.example")
    resp = await client.get("/api/v1/tasks", headers={"Host": host})
    assert resp.status == 200, await resp.text()


async def test_hosts_beyond_those_kept_are_answered_as_before(make_api: Factory) -> None:
    """The guard keeps its answer per Host, up to MAX_HOSTS_KEPT: past that it starts over,
    and every answer is still the right one."""
    client, _ = await make_api()
    for n in range(3 * MAX_HOSTS_KEPT):
        ip, name = f"10.0.{n // 250}.{n % 250}", f"evil{n}.example"
        assert (await client.get("/api/v1/tasks", headers={"Host": ip})).status == 200
        await refused(client, "GET", "/api/v1/tasks", 403, 4031, headers={"Host": name})
        if n % 50 == 0:  # one seen long ago, asked again
            await refused(
                client, "GET", "/api/v1/tasks", 403, 4031, headers={"Host": "evil0.example"}
            )
            assert (await client.get("/api/v1/tasks", headers={"Host": "10.0.0.0"})).status == 200


async def test_with_a_token_the_token_is_the_check(make_api: Factory) -> None:
    client, _ = await make_api(api_token=TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}", "Host": "evil.example"}
    assert (await client.get("/api/v1/tasks", headers=auth)).status == 200


async def test_wrong_tokens_are_slowed_per_address(make_api: Factory) -> None:
    client, _ = await make_api(api_token=TOKEN)
    throttle = client.app[AUTH_THROTTLE]
    now = [1000.0]
    throttle.clock = lambda: now[0]
    wrong = {"Authorization": "Bearer nope"}
    for _ in range(BURST):
        await refused(client, "GET", "/api/v1/tasks", 401, 4010, headers=wrong)
    slowed = await refused(client, "GET", "/api/v1/tasks", 429, 4291, headers=wrong)
    assert slowed.headers["Retry-After"] == "1"
    right = {"Authorization": f"Bearer {TOKEN}"}  # a right guess gets no faster answer
    await refused(client, "GET", "/api/v1/tasks", 429, 4291, headers=right)
    await refused(client, "GET", "/api/v1/tasks", 401, 4010)  # no token sent: not a try
    assert throttle.refused == 2
    now[0] += 1.0  # one try a second
    assert (await client.get("/api/v1/tasks", headers=right)).status == 200
    await refused(client, "GET", "/api/v1/tasks", 401, 4010, headers=wrong)
    await refused(client, "GET", "/api/v1/tasks", 429, 4291, headers=wrong)
    assert (await client.get("/health", headers=wrong)).status == 200


async def test_wrong_tokens_in_the_websocket_auth_message_count_too(make_api: Factory) -> None:
    client, _ = await make_api(api_token=TOKEN)
    client.app[AUTH_THROTTLE].clock = lambda: 1000.0
    for attempt in range(BURST + 1):
        async with client.ws_connect("/api/v1/ws") as ws:
            await ws.send_json({"action": "auth", "token": "nope"})
            frame = await ws.receive_json(timeout=3)
            expected = 4010 if attempt < BURST else 4291
            assert frame["error_code"] == expected, (attempt, frame)
    await refused(client, "GET", "/api/v1/tasks", 429, 4291, headers={"Authorization": "Bearer x"})
