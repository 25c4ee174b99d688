"""HTTP hygiene of the production server (ChiffonAppRunner): aiohttp's own refusals in our
error body, a deadline for request headers, and a quiet close for clients that hang up."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import resource
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from adapters.http.server import ChiffonAppRunner, ChiffonServer, connection_cap
from composition_root import Settings, build_container, wire_orchestrator


@pytest.fixture
async def port() -> AsyncIterator[int]:
    wired = wire_orchestrator(build_container(Settings(demo_agent=False)))
    runner = ChiffonAppRunner(wired.app, header_timeout_s=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


async def exchange(port: int, data: bytes, pause_s: float = 0.0) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        await asyncio.sleep(pause_s)
        async with asyncio.timeout(5):
            return await reader.read(-1)
    finally:
        writer.close()


def split(answer: bytes) -> tuple[int, bytes, dict[str, object]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), head.lower(), json.loads(body)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10_000 + b"\r\n\r\n",
        b"GET /" + b"p" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    ],
)
async def test_what_aiohttp_refuses_itself_gets_our_error_body(
    port: int, request_bytes: bytes
) -> None:
    status, head, body = split(await exchange(port, request_bytes))
    assert status == 400 and b"content-type: application/json" in head
    assert body["error_code"] == 1000 and isinstance(body["error_message"], str)
    assert body["trace_id"] and "Traceback" not in str(body)


async def test_headers_that_trickle_in_are_cut_off(port: int) -> None:
    started = asyncio.get_running_loop().time()
    answer = await exchange(port, b"GET /health HTTP/1.1\r\nHost: x\r\n", pause_s=0.1)
    waited = asyncio.get_running_loop().time() - started
    status, _, body = split(answer)
    assert (status, body["error_code"]) == (408, 1006)
    assert waited < 4  # cut off by the deadline, not by the client giving up


async def test_a_connection_that_sends_nothing_is_closed(port: int) -> None:
    answer = await exchange(port, b"")
    assert split(answer)[0] == 408


async def test_keep_alive_requests_each_get_the_deadline(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _ in range(3):  # slower in total than one deadline, each in time
            writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 200")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            await asyncio.sleep(0.3)
    finally:
        writer.close()


async def test_a_client_that_hangs_up_mid_body_is_a_quiet_close(
    port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /api/v1/dispatch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 1000\r\n\r\n{"task_id": '
    )
    await writer.drain()
    await asyncio.sleep(0.1)
    writer.close()
    await asyncio.sleep(0.3)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert "Traceback" not in caplog.text


async def test_connections_cut_at_the_header_deadline_are_one_quiet_line_each(
    port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    answers = await asyncio.gather(*(exchange(port, b"") for _ in range(5)))
    assert [split(a)[0] for a in answers] == [408] * 5
    await asyncio.sleep(0)  # callbacks scheduled by the closes have run
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert loud == [], caplog.text
    cut = [r for r in caplog.records if "request headers took over" in r.getMessage()]
    assert len(cut) == 5, caplog.text


async def test_connections_past_the_cap_are_refused_at_once_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    wired = wire_orchestrator(build_container(Settings(demo_agent=False)))
    runner = ChiffonAppRunner(wired.app, header_timeout_s=30, max_connections=3)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
    try:
        await until_open(runner, 3)
        answers = [
            await exchange(port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n") for _ in range(4)
        ]
        for answer in answers:
            status, head, body = split(answer)
            assert (status, body["error_code"]) == (429, 4290) and b"retry-after: 1" in head
        server = runner.server
        assert isinstance(server, ChiffonServer) and server.refused == 4
        assert len([r for r in caplog.records if "at the cap of 3" in r.getMessage()]) == 1
        held.pop()[1].close()  # a place is free again
        await until_open(runner, 2)
        ok = await exchange(port, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert split(ok)[0] == 200
    finally:
        for _, writer in held:
            writer.close()
        await runner.cleanup()


async def until_open(runner: ChiffonAppRunner, count: int) -> None:
    """The server sees connections open and close a moment after the client: poll for it."""
    server = runner.server
    assert server is not None
    for _ in range(500):  # 5 s at most
        if len(server.connections) == count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{len(server.connections)} connections open, not {count}")


def test_the_cap_is_read_from_the_descriptor_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert len(os.listdir("/proc/self/fd")) < 400, "too many files open to lower the limit"
    resource.setrlimit(resource.RLIMIT_NOFILE, (512, hard))
    try:
        assert connection_cap() == 512 - 64
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
        assert connection_cap() == 1024 - 128
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
