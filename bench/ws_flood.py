"""WebSocket flood: many clients that subscribe again and again and never read a byte.

Each client opens /api/v1/ws with a tiny receive buffer, then keeps sending subscribe frames
(topic "tasks" and single big tasks in turn) and never reads, the cheapest way for a client to
make a server hold data for it. When the server closes it, it connects again. Meanwhile /health
is probed every 100 ms and the server's RSS sampled. Used by tests/integration/test_ws_flood.py
(goal: bounded RSS, /health answering, SIGTERM stopping it) and runnable alone:

    .venv/bin/python bench/ws_flood.py --url http://127.0.0.1:8080 --pid PID --clients 200
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import socket
import statistics
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

HANDSHAKE = (
    "GET /api/v1/ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


@dataclass
class FloodStats:
    connects: int = 0
    refused: int = 0
    frames_sent: int = 0
    closed_by_server: int = 0
    health_ms: list[float] = field(default_factory=list)
    health_failures: int = 0
    rss_mb: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        ms = sorted(self.health_ms) or [float("nan")]
        return {
            "connects": self.connects,
            "refused": self.refused,
            "frames_sent": self.frames_sent,
            "closed_by_server": self.closed_by_server,
            "health_probes": len(self.health_ms),
            "health_failures": self.health_failures,
            "health_p50_ms": round(statistics.median(ms), 2),
            "health_p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 2),
            "health_max_ms": round(ms[-1], 2),
            "peak_rss_mb": round(max(self.rss_mb, default=0.0), 1),
        }


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def text_frame(payload: dict[str, Any]) -> bytes:
    """One masked client text frame (RFC 6455), as a browser would send it."""
    data = json.dumps(payload).encode()
    mask = os.urandom(4)
    head = bytes([0x81])
    if len(data) < 126:
        head += bytes([0x80 | len(data)])
    else:
        head += bytes([0x80 | 126]) + len(data).to_bytes(2, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


async def never_reading_client(
    host: str, port: int, until: float, task_ids: list[str], stats: FloodStats, pause_s: float
) -> None:
    while time.monotonic() < until:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, (host, port))
            reader, writer = await asyncio.open_connection(sock=sock)
            key = base64.b64encode(os.urandom(16)).decode()
            writer.write(HANDSHAKE.format(host=f"{host}:{port}", key=key).encode())
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            stats.refused += 1
            sock.close()
            await asyncio.sleep(0.2)
            continue
        if not head.startswith(b"HTTP/1.1 101"):
            stats.refused += 1
            writer.close()
            await asyncio.sleep(0.2)
            continue
        stats.connects += 1
        await _send_until_closed(writer, until, task_ids, stats, pause_s)
        writer.close()


async def _send_until_closed(
    writer: asyncio.StreamWriter,
    until: float,
    task_ids: list[str],
    stats: FloodStats,
    pause_s: float,
) -> None:
    turn = 0
    while time.monotonic() < until:
        turn += 1
        sub = (
            {"topic": "tasks"} if turn % 2 or not task_ids else {"task_id": random.choice(task_ids)}
        )
        try:
            writer.write(text_frame({"action": "subscribe", **sub}))
            await asyncio.wait_for(writer.drain(), 5)
        except (OSError, TimeoutError):
            stats.closed_by_server += 1
            return
        if writer.is_closing() or writer.transport.get_extra_info("socket") is None:
            stats.closed_by_server += 1
            return
        stats.frames_sent += 1
        await asyncio.sleep(pause_s)


async def probe_health(base_url: str, until: float, stats: FloodStats, pid: int) -> None:
    loop = asyncio.get_running_loop()
    while time.monotonic() < until:
        started = time.perf_counter()
        try:
            await loop.run_in_executor(None, _get, f"{base_url}/health")
            stats.health_ms.append((time.perf_counter() - started) * 1000)
        except OSError:
            stats.health_failures += 1
        stats.rss_mb.append(rss_mb(pid))
        await asyncio.sleep(0.1)


def _get(url: str) -> None:
    with urllib.request.urlopen(url, timeout=5) as answer:
        answer.read()


async def flood(
    base_url: str,
    pid: int,
    clients: int,
    seconds: float,
    task_ids: list[str],
    pause_s: float = 0.02,
    stats: FloodStats | None = None,
) -> FloodStats:
    """Run the flood for `seconds`; `stats` (given or new) fills in while it runs."""
    host, port = base_url.removeprefix("http://").split(":")
    stats = stats or FloodStats()
    until = time.monotonic() + seconds
    jobs = [
        never_reading_client(host, int(port), until, task_ids, stats, pause_s)
        for _ in range(clients)
    ]
    await asyncio.gather(probe_health(base_url, until, stats, pid), *jobs)
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--pid", type=int, required=True, help="the chiffon serve process")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--task-id", action="append", default=[], help="big tasks to ask for")
    args = parser.parse_args()
    stats = asyncio.run(flood(args.url, args.pid, args.clients, args.seconds, args.task_id))
    print(json.dumps(stats.summary(), indent=2))


if __name__ == "__main__":
    main()
