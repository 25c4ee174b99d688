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

pytestmark = pytest.mark.e2e  # a real process or a browser: not in the quick suite

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
        (["serve"], {"CHIFFON_HEARTBEAT_INTERVAL_S": "0"}, 2, "CHIFFON_HEARTBEAT_INTERVAL_S must"),
        (["serve"], {"CHIFFON_MISSED_HEARTBEATS": "1"}, 2, "MISSED_HEARTBEATS must be between 2"),
        (["serve"], {"CHIFFON_PORT": "eighty"}, 2, "CHIFFON_PORT must be a whole number"),
        (["serve"], {"CHIFFON_ROUTES": "nonsense"}, 2, "expected work_type=agent_type"),
        (["serve"], {"CHIFFON_LOG_FORMAT": "xml"}, 2, "must be one of text, json"),
        (["serve"], {"CHIFFON_DEMO_AGENT": "maybe"}, 2, "must be true or false"),
        (["serve"], {"CHIFFON_API_TOKEN": ""}, 2, "CHIFFON_API_TOKEN is set but empty"),
        (["serve"], {"CHIFFON_DATABASE_URL": "mysql://u:pw@h/db"}, 2, "postgresql:// URL"),
        (["serve"], {"CHIFFON_AMQP_URL": "http://h"}, 2, "amqp:// URL"),
        (["serve", "--workers", "2"], {}, 2, "CHIFFON_WORKERS above 1 needs CHIFFON_DATABASE_URL"),
        (["serve"], {"CHIFFON_WORKERS": "0"}, 2, "CHIFFON_WORKERS must be between 1 and 64"),
        (["serve", "--host", "0.0.0.0"], {}, 1, "refusing to listen on 0.0.0.0 without"),
        (["serve", "--host", "192.0.2.1", "--insecure"], {}, 1, "not on this machine"),
        (
            ["serve", "--database-url", "postgresql://postgres@127.0.0.1:1/x"],
            {},
            1,
            "cannot reach PostgreSQL",
        ),
        (
            ["serve", "--database-url", "postgresql://postgres@127.0.0.1/chiffon_no_such_db"],
            {},
            1,
            'database "chiffon_no_such_db" does not exist',
        ),
        (
            ["serve", "--amqp-url", "amqp://guest:wrong@127.0.0.1:5672/"],
            {},
            1,
            "refused the user name or password",
        ),
        (
            ["agent", "--amqp-url", "amqp://guest:guest@127.0.0.1:5672/chiffon-no-such-vhost"],
            {},
            1,
            "does the vhost exist",
        ),
        (
            ["agent", "--amqp-url", "amqp://127.0.0.1:1/", "--handlers", "no.such.module"],
            {},
            1,
            "cannot import 'no.such.module'",
        ),
        (["serve", "--handlers", "json"], {}, 1, "json has no HandlerRegistry named 'handlers'"),
    ],
)
async def test_operator_mistakes_get_one_clear_line(
    args: list[str], env: dict[str, str], code: int, says: str
) -> None:
    port = ["--port", str(free_port())] if args[0] == "serve" else []
    rc, out = await run_cli(*args, *port, env=env)
    assert rc == code, out
    assert says in out and "Traceback" not in out
    assert len(out.strip().splitlines()) == 1, out


async def test_a_port_in_use_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        rc, out = await run_cli("serve", "--port", str(taken.getsockname()[1]))
    assert rc == 1 and "the port is in use" in out and "Traceback" not in out, out
    assert len(out.strip().splitlines()) == 1, out


async def test_misspelled_settings_are_warned_about() -> None:
    rc, out = await run_cli("migrate", env={"CHIFFON_PROT": "9000", "CHIFFON_DATABSE_URL": "x"})
    assert rc == 1
    assert (
        "CHIFFON_PROT is not a chiffon setting and is ignored (did you mean CHIFFON_PORT?)" in out
    )
    assert "did you mean CHIFFON_DATABASE_URL?" in out


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


HANDLER_FILE = """
from chiffon.handlers import HandlerContext, HandlerRegistry

handlers = HandlerRegistry()


@handlers.register("greet")
async def greet(ctx: HandlerContext) -> dict[str, str]:
    return {"greeting": f"hello, {ctx.parameters.get('name', 'world')}"}
"""


async def test_a_handler_is_a_file_and_one_command(tmp_path: Path) -> None:
    """Memory mode runs the handlers named by --handlers, found in the current directory."""
    (tmp_path / "myhandlers.py").write_text(HANDLER_FILE)
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chiffon", "serve", "--port", str(port), "--handlers", "myhandlers",
        cwd=tmp_path, env={**_clean_env(), "CHIFFON_HEARTBEAT_INTERVAL_S": "0.5"},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            await eventually(lambda: _ready(http, base), bool, 15)
            task_id = await eventually(
                lambda: _try_dispatch(http, base, "greet", {"name": "ops"}), bool, 5
            )
            done = await eventually(lambda: _status(http, base, task_id), _is("completed"))
            assert done["result"] == {"greeting": "hello, ops"}
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.wait(), 15)


async def _try_dispatch(http: aiohttp.ClientSession, base: str, work_type: str, params: Any) -> str:
    """A task id once the work type is routable (the agent advertises it in its heartbeat)."""
    task_id = str(uuid.uuid4())
    body = {"task_id": task_id, "work_type": work_type, "parameters": params}
    async with http.post(f"{base}/api/v1/dispatch", json=body) as resp:
        return task_id if resp.status == 200 else ""
