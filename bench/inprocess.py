"""CPU per request of `chiffon serve` in memory mode, in one process with a minimal keep-alive
client (8 connections, requests written as bytes, answers read by Content-Length): no wrk and
no second process competing for the cores, so figures move less on a shared machine than the
wrk scenarios' (still: compare runs interleaved, minutes apart, best of several rounds).

    .venv/bin/python bench/inprocess.py dispatch [requests] [rounds]   # POST /api/v1/dispatch
    .venv/bin/python bench/inprocess.py status [requests] [rounds]     # GET /api/v1/status/{id}
    .venv/bin/python bench/inprocess.py bare [requests] [rounds]       # baseline (a), same client

Prints, per round, CPU µs per request (process time: server and client together) and the time
the cyclic garbage collector took of it; then the best round. Works on commits from before the
command line moved to adapters/cli (for before/after runs).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import socket
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CONNECTIONS = 8
_gc = {"started": 0.0, "spent": 0.0}


def _timed_collections(phase: str, _: dict[str, Any]) -> None:
    if phase == "start":
        _gc["started"] = time.process_time()
    else:
        _gc["spent"] += time.process_time() - _gc["started"]


async def _client(port: int, requests: list[bytes]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for raw in requests:
        writer.write(raw)
        head = await reader.readuntil(b"\r\n\r\n")
        at = head.find(b"Content-Length: ")
        body = await reader.readexactly(int(head[at + 16 : head.find(b"\r\n", at)]))
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError((head + body).decode(errors="replace"))
    writer.close()


def _post(task_id: uuid.UUID, priority: int = 1) -> bytes:
    body = json.dumps(
        {
            "task_id": str(task_id),
            "work_type": "bench",
            "parameters": {"n": 1},
            "priority": priority,
        }
    ).encode()
    return (
        b"POST /api/v1/dispatch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )


def _get(task_id: uuid.UUID) -> bytes:
    return b"GET /api/v1/status/%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % str(task_id).encode()


async def _serve(kind: str, sock: socket.socket) -> None:
    if kind == "bare":
        from aiohttp import web

        sys.path.insert(0, str(ROOT / "bench" / "baselines"))
        import bare_aiohttp

        runner = web.AppRunner(bare_aiohttp.make_app(), access_log=None)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        return
    try:
        from adapters.cli import logs
        from adapters.cli.main import tune_collector
        from adapters.cli.serve import run_server
        from adapters.cli.settings import Settings
    except ImportError:  # a commit from before the command line moved
        from composition_root.runners import run_server  # type: ignore[no-redef]
        from composition_root.settings import Settings  # type: ignore[no-redef]

        from adapters.system import logs  # type: ignore[no-redef]

        tune_collector = None  # type: ignore[assignment]
    logs.configure("json")  # to /dev/null: see main()
    if tune_collector is not None:
        tune_collector()
    ready = asyncio.Event()
    settings = Settings.from_env({"CHIFFON_ROUTES": "bench=bench"})
    asyncio.get_running_loop().create_task(run_server(settings, ready, sock))
    await ready.wait()


async def _measure(kind: str, n: int, rounds: int, out: Any) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    await _serve(kind, sock)
    ids = [uuid.uuid4() for _ in range(500)]
    if kind == "status":
        seed = [_post(i) for i in ids]
        await asyncio.gather(*(_client(port, seed[c::CONNECTIONS]) for c in range(CONNECTIONS)))
    gc.callbacks.append(_timed_collections)
    best = float("inf")
    for n_round in range(rounds + 1):  # round 0 warms up
        if kind == "status":
            requests = [_get(ids[i % len(ids)]) for i in range(n)]
        else:
            requests = [_post(uuid.uuid4(), 1 + i % 5) for i in range(n)]
        await asyncio.sleep(0.05)
        started, collected = time.process_time(), _gc["spent"]
        await asyncio.gather(*(_client(port, requests[c::CONNECTIONS]) for c in range(CONNECTIONS)))
        us = (time.process_time() - started) / n * 1e6
        gc_us = (_gc["spent"] - collected) / n * 1e6
        print(f"round {n_round}: {us:.1f} us per request ({gc_us:.1f} collecting)", file=out)
        if n_round:
            best = min(best, us)
    print(f"{kind}: best {best:.1f} us of CPU per request (server + client)", file=out, flush=True)


def main() -> None:
    kind = sys.argv[1] if len(sys.argv) > 1 else "dispatch"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    out = sys.stdout
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (the server's log lines, for the run)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_measure(kind, n, rounds, out))
    os._exit(0)  # the server runs until killed; nothing of it needs to stop cleanly


if __name__ == "__main__":
    main()
