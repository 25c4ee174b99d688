"""`python -m chiffon` as a user runs it: the README walkthrough against a real process."""

import asyncio
import os
import signal
import socket
import sys
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.helpers import eventually

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chiffon",
        *args,
        cwd=ROOT,
        env={**_clean_env(), **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode or 0, out.decode()


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CHIFFON_")}


async def test_the_readme_walkthrough_in_memory_then_ctrl_c() -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chiffon",
        "serve",
        "--port",
        str(port),
        cwd=ROOT,
        env={**_clean_env(), "CHIFFON_HEARTBEAT_INTERVAL_S": "0.5"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            await eventually(lambda: _ready(http, base), lambda ok: ok, timeout=15)
            echo = await _dispatch(http, base, "echo", {"hello": "world"})
            done = await eventually(lambda: _status(http, base, echo), _is("completed"), 1.0)
            assert done["result"] == {"hello": "world"}
            sleeper = await _dispatch(http, base, "sleep", {"seconds": 5})
            running = await eventually(
                lambda: _status(http, base, sleeper),
                lambda t: (t["progress_percent"] or 0) >= 20,
                3.0,
            )
            assert running["status"] == "running"
            async with http.post(f"{base}/api/v1/cancel/{sleeper}", json={}) as resp:
                assert (await resp.json())["status"] == "cancelled"
            agents = await eventually(
                lambda: _get(http, f"{base}/api/v1/agents"),
                lambda a: a and a[0]["running_tasks"] == [],
                2.0,
            )
            assert agents[0]["agent_type"] == "demo" and "cpu_percent" in agents[0]["resources"]
        proc.send_signal(signal.SIGINT)
        out, _ = await asyncio.wait_for(proc.communicate(), 15)
        assert proc.returncode == 0, out.decode()
        assert "shutting down" in out.decode() and "Traceback" not in out.decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest.mark.parametrize(
    ("args", "env", "code", "says"),
    [
        (["migrate"], {}, 1, "set CHIFFON_DATABASE_URL"),
        (["agent"], {}, 1, "needs CHIFFON_AMQP_URL"),
        (["serve"], {"CHIFFON_HEARTBEAT_INTERVAL_S": "0"}, 2, "bad setting"),
        (["serve"], {"CHIFFON_PORT": "eighty"}, 2, "bad setting"),
        (["serve"], {"CHIFFON_ROUTES": "nonsense"}, 2, "expected work_type=agent_type"),
        (
            ["serve", "--database-url", "postgresql://postgres@127.0.0.1:1/x"],
            {},
            1,
            "cannot reach PostgreSQL",
        ),
        (
            ["agent", "--amqp-url", "amqp://127.0.0.1:1/", "--handlers", "no.such.module"],
            {},
            1,
            "bad agent setting",
        ),
    ],
)
async def test_operator_mistakes_get_one_clear_line(
    args: list[str], env: dict[str, str], code: int, says: str
) -> None:
    rc, out = await run_cli(*args, env=env)
    assert rc == code, out
    assert says in out and "Traceback" not in out


async def _ready(http: aiohttp.ClientSession, base: str) -> bool:
    try:
        async with http.get(f"{base}/ready") as resp:
            return resp.status == 200
    except aiohttp.ClientError:
        return False


async def _dispatch(http: aiohttp.ClientSession, base: str, work_type: str, params: Any) -> str:
    task_id = str(uuid.uuid4())
    body = {"task_id": task_id, "work_type": work_type, "parameters": params}
    async with http.post(f"{base}/api/v1/dispatch", json=body) as resp:
        assert resp.status == 200
    return task_id


async def _status(http: aiohttp.ClientSession, base: str, task_id: str) -> Any:
    return await _get(http, f"{base}/api/v1/status/{task_id}")


async def _get(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(url) as resp:
        return await resp.json()


def _is(status: str) -> Any:
    return lambda t: t["status"] == status
