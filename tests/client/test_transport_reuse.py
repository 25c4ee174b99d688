"""A kept-alive connection the server dropped while idle: a request that may be repeated is
sent again on a new connection; one that may not (creating a schedule) is not."""

from __future__ import annotations

import asyncio

import pytest

from adapters.cli.client.errors import ServerUnreachable
from adapters.cli.client.transport import HttpTransport


async def one_answer_per_connection() -> tuple[asyncio.Server, list[str]]:
    """Answers the first request of each connection as if keeping it alive, then drops it."""
    seen: list[str] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        seen.append(head.split(b"\r\n", 1)[0].decode())
        length = next(
            (
                int(h.split(b":")[1])
                for h in head.split(b"\r\n")
                if h.lower().startswith(b"content-length")
            ),
            0,
        )
        await reader.readexactly(length)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        )
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0), seen


async def test_a_read_is_repeated_on_a_new_connection_a_schedule_create_is_not() -> None:
    server, seen = await one_answer_per_connection()
    port = server.sockets[0].getsockname()[1]
    http = HttpTransport(f"http://127.0.0.1:{port}", {}, 5.0)
    try:
        assert (await http.request("GET", "/api/v1/schedules")).status == 200
        await asyncio.sleep(0.2)  # the server dropped the kept-alive connection meanwhile
        assert (await http.request("GET", "/api/v1/schedules")).status == 200
        await asyncio.sleep(0.2)
        with pytest.raises(ServerUnreachable):
            await http.request("POST", "/api/v1/schedules", b"{}")
        assert seen == ["GET /api/v1/schedules HTTP/1.1"] * 2  # the POST never went out twice
        assert (await http.request("POST", "/api/v1/schedules", b"{}")).status == 200  # fresh
    finally:
        http.close()
        server.close()
        await server.wait_closed()
