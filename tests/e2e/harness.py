"""End-to-end harness: real `chiffon serve` / `chiffon agent` processes on PostgreSQL + RabbitMQ.

A `Cluster` starts processes (output captured to one file each), talks to the orchestrator
over HTTP, reads the store directly, and kills everything it started when closed. Every wait
is bounded; a process that dies while we wait for it fails the test with its log tail.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import asyncpg

from chiffon.credentials import agent_id_for, new_agent_key
from tests.amqp_fixtures import rabbitmqctl
from tests.e2e.recording import RUNLOG_ENV

ROOT = Path(__file__).resolve().parents[2]
HEARTBEAT_INTERVAL_S = 0.5
READY_TIMEOUT_S = 20.0
EXIT_TIMEOUT_S = 10.0
TAIL_LINES = 40

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def eventually(
    probe: Callable[[], Awaitable[T]],
    until: Callable[[T], bool],
    timeout: float,
    what: str,
    interval: float = 0.05,
    alive: Callable[[], None] = lambda: None,
    describe: Callable[[T], str] = lambda value: _short(value),
) -> T:
    """Poll `probe` until `until(value)`; fail with the last value after `timeout` seconds.
    `alive` is called between polls and may raise (a process we depend on died);
    `describe` says what the last value was when it fails."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if until(value):
            return value
        alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s; last value: {describe(value)}")
        await asyncio.sleep(interval)


def _async(fn: Callable[[], T]) -> Callable[[], Awaitable[T]]:
    async def call() -> T:
        return fn()

    return call


def _short(value: object, limit: int = 600) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


class Proc:
    """One OS process we started, its output in `log_path`."""

    def __init__(
        self, name: str, process: asyncio.subprocess.Process, log_path: Path, **info: Any
    ) -> None:
        self.name = name
        self.process = process
        self.log_path = log_path
        self.url: str = info.get("url", "")
        self.agent_id: str = info.get("agent_id", "")

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, lines: int = TAIL_LINES) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def notable(self, lines: int = TAIL_LINES) -> str:
        """The last lines that are not routine: warnings, errors, tracebacks, and info
        lines other than access lines (a polling test fills the tail with those)."""
        keep = [
            line
            for line in self.log().splitlines()
            if '"logger": "chiffon.access"' not in line or '"level": "info"' not in line
        ]
        return "\n".join(keep[-lines:])

    def check_alive(self) -> None:
        if not self.alive:
            raise AssertionError(
                f"{self.name} (pid {self.pid}) exited with {self.process.returncode}:\n"
                + self.tail()
            )

    def send(self, sig: signal.Signals) -> None:
        if self.alive:
            os.kill(self.pid, sig)

    async def wait_exit(self, timeout: float = EXIT_TIMEOUT_S) -> int:
        async with asyncio.timeout(timeout):
            return await self.process.wait()

    async def kill(self) -> None:
        """SIGKILL and reap (idempotent)."""
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await self.wait_exit()


class Cluster:
    """Processes of one test, all on one database, one vhost and one namespace."""

    def __init__(self, workdir: Path, dsn: str, amqp_url: str, vhost: str, namespace: str):
        self.workdir = workdir
        self.dsn = dsn
        self.amqp_url = amqp_url
        self.vhost = vhost
        self.namespace = namespace
        self.runlog_path = workdir / "runlog.jsonl"
        self.procs: list[Proc] = []
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self._db: asyncpg.Connection | None = None
        self._counts: Counter[str] = Counter()

    # processes -----------------------------------------------------------------------------

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHIFFON_")}
        env.update(
            PYTHONPATH=str(ROOT),
            PYTHONUNBUFFERED="1",
            CHIFFON_DATABASE_URL=self.dsn,
            CHIFFON_AMQP_URL=self.amqp_url,
            CHIFFON_AMQP_NAMESPACE=self.namespace,
            CHIFFON_HEARTBEAT_INTERVAL_S=str(HEARTBEAT_INTERVAL_S),
            CHIFFON_SHUTDOWN_GRACE_S="2",
            CHIFFON_LOG_FORMAT="json",
            CHIFFON_HANDLERS="tests.e2e.recording",
            **{RUNLOG_ENV: str(self.runlog_path)},
        )
        env.update(extra)
        return env

    async def spawn(self, name: str, args: Sequence[str], env: dict[str, str], **info: Any) -> Proc:
        self._counts[name] += 1
        log_path = self.workdir / f"{name}-{self._counts[name]}.log"
        with log_path.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "chiffon",
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
                cwd=ROOT,
            )
        proc = Proc(f"{name}-{self._counts[name]}", process, log_path, **info)
        self.procs.append(proc)
        return proc

    async def start_orchestrator(self, **env: str) -> Proc:
        """`chiffon serve` on a free port (with these extra settings), once /ready answers 200."""
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = await self.spawn(
            "serve", ["serve"], self.env(CHIFFON_PORT=str(port), **env), url=url
        )
        await eventually(
            lambda: self._ready_status(url),
            lambda status: status == 200,
            READY_TIMEOUT_S,
            f"{proc.name} /ready",
            interval=0.1,
            alive=proc.check_alive,
        )
        return proc

    async def start_agent(self, orchestrator: Proc, concurrency: int, **env: str) -> Proc:
        """`chiffon agent --type demo` (with these extra settings), once it consumes and the
        orchestrator lists it online."""
        key = new_agent_key()  # the agent's id is derived from it (chiffon.credentials)
        agent_id = str(agent_id_for(key))
        proc = await self.spawn(
            "agent",
            ["agent", "--type", "demo", "--concurrency", str(concurrency)],
            self.env(CHIFFON_AGENT_KEY=key, CHIFFON_AGENT_ID=agent_id, **env),
            agent_id=agent_id,
        )

        def check() -> None:
            proc.check_alive()
            orchestrator.check_alive()

        await eventually(
            _async(proc.log),
            lambda text: "taking work" in text,
            READY_TIMEOUT_S,
            f"{proc.name} consuming",
            interval=0.05,
            alive=check,
        )
        await eventually(
            lambda: self.agent_status(orchestrator, agent_id),
            lambda status: status in ("online", "busy"),
            READY_TIMEOUT_S,
            f"{proc.name} online",
            interval=0.1,
            alive=check,
        )
        return proc

    async def close(self, failed: bool) -> None:
        for proc in self.procs:
            await proc.kill()
        if failed:
            for proc in self.procs:
                print(f"\n----- {proc.name} (pid {proc.pid}, exit {proc.process.returncode})")
                print(proc.notable(lines=120))
        await self.http.close()
        if self._db is not None:
            await self._db.close()

    # HTTP ----------------------------------------------------------------------------------

    async def _ready_status(self, url: str) -> int | None:
        try:
            async with self.http.get(f"{url}/ready", timeout=aiohttp.ClientTimeout(total=3)) as r:
                return r.status
        except (aiohttp.ClientError, TimeoutError):
            return None

    async def ready(self, orchestrator: Proc) -> int | None:
        return await self._ready_status(orchestrator.url)

    async def dispatch(
        self, orchestrator: Proc, body: dict[str, Any], expect: int = 200
    ) -> dict[str, Any]:
        async with self.http.post(f"{orchestrator.url}/api/v1/dispatch", json=body) as r:
            answer: dict[str, Any] = await r.json()
            assert r.status == expect, f"dispatch answered {r.status}: {answer}"
            return answer

    async def timeline(self, orchestrator: Proc, task_id: str) -> list[dict[str, Any]]:
        """The task's numbered changes, as GET /api/v1/tasks/{id}/events gives them."""
        url = f"{orchestrator.url}/api/v1/tasks/{task_id}/events?limit=1000"
        async with self.http.get(url) as r:
            answer: dict[str, Any] = await r.json()
            assert r.status == 200, f"events answered {r.status}: {answer}"
            items: list[dict[str, Any]] = answer["items"]
            return items

    async def dispatch_many(
        self, orchestrator: Proc, bodies: Iterable[dict[str, Any]], parallel: int = 32
    ) -> list[str]:
        """POST every body with at most `parallel` requests in flight; returns the task ids."""
        gate = asyncio.Semaphore(parallel)

        async def one(body: dict[str, Any]) -> str:
            async with gate:
                answer = await self.dispatch(orchestrator, body)
                assert answer["status"] == "pending", answer
                return str(answer["task_id"])

        async with asyncio.timeout(60):
            return list(await asyncio.gather(*(one(b) for b in bodies)))

    async def cancel(self, orchestrator: Proc, task_id: str) -> dict[str, Any]:
        async with self.http.post(f"{orchestrator.url}/api/v1/cancel/{task_id}", json={}) as r:
            answer: dict[str, Any] = await r.json()
            assert r.status == 200, f"cancel answered {r.status}: {answer}"
            return answer

    async def status(self, orchestrator: Proc, task_id: str) -> dict[str, Any]:
        async with self.http.get(f"{orchestrator.url}/api/v1/status/{task_id}") as r:
            answer: dict[str, Any] = await r.json()
            assert r.status == 200, f"status answered {r.status}: {answer}"
            return answer

    async def agents(self, orchestrator: Proc) -> list[dict[str, Any]]:
        async with self.http.get(f"{orchestrator.url}/api/v1/agents") as r:
            answer: list[dict[str, Any]] = await r.json()
            assert r.status == 200, f"agents answered {r.status}: {answer}"
            return answer

    async def agent_status(self, orchestrator: Proc, agent_id: str) -> str | None:
        try:
            agents = await self.agents(orchestrator)
        except (aiohttp.ClientError, TimeoutError):
            return None
        return next((a["status"] for a in agents if a["agent_id"] == agent_id), None)

    # the store and the run log -------------------------------------------------------------

    async def db(self) -> asyncpg.Connection:
        if self._db is None:
            self._db = await asyncpg.connect(self.dsn, timeout=10)
        return self._db

    async def tasks(self, task_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The stored rows of these tasks (straight from PostgreSQL), JSON columns decoded."""
        conn = await self.db()
        rows = await conn.fetch(
            "SELECT task_id::text AS task_id, status, attempt, agent_id::text AS agent_id,"
            " work_type, parameters::text AS parameters, result::text AS result"
            " FROM tasks WHERE task_id = ANY($1::uuid[])",
            list(task_ids),
        )
        decoded = []
        for row in rows:
            item = dict(row)
            for column in ("parameters", "result"):
                if item[column] is not None:
                    item[column] = json.loads(item[column])
            decoded.append(item)
        return decoded

    async def task(self, task_id: str) -> dict[str, Any]:
        rows = await self.tasks([task_id])
        assert len(rows) == 1, f"task {task_id}: {len(rows)} rows"
        return rows[0]

    async def wait_finished(
        self, task_ids: Sequence[str], timeout: float, alive: Sequence[Proc] = ()
    ) -> list[dict[str, Any]]:
        """Wait until every task is in a terminal state; returns their rows."""
        terminal = {"completed", "failed", "cancelled", "timed_out"}

        def check() -> None:
            for proc in alive:
                proc.check_alive()

        def done(rows: list[dict[str, Any]]) -> bool:
            return len(rows) == len(task_ids) and all(r["status"] in terminal for r in rows)

        def summary(rows: list[dict[str, Any]]) -> Counter[str]:
            return Counter(r["status"] for r in rows)

        def stuck(rows: list[dict[str, Any]]) -> str:
            # What a flake needs to be diagnosed: which tasks did not end, where they stand,
            # and whether an agent ever ran them.
            open_rows = [r for r in rows if r["status"] not in terminal]
            missing = set(task_ids) - {r["task_id"] for r in rows}
            starts, ends = self.runs("start"), self.runs("end")
            lines = [f"statuses {dict(summary(rows))}; {len(missing)} not stored"]
            for r in open_rows[:8]:
                lines.append(
                    f"  {r['task_id']} {r['status']} attempt {r['attempt']} agent {r['agent_id']}"
                    f" starts {starts[r['task_id']]} ends {ends[r['task_id']]}"
                )
            return "\n".join(lines)

        rows = await eventually(
            lambda: self.tasks(task_ids),
            done,
            timeout,
            f"{len(task_ids)} tasks finished",
            interval=0.1,
            alive=check,
            describe=stuck,
        )
        assert done(rows), summary(rows)
        return rows

    async def unsent_outbox(self) -> int:
        conn = await self.db()
        count: int = await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
        return count

    def runlog(self) -> list[dict[str, Any]]:
        """Every handler start/end the agents recorded."""
        if not self.runlog_path.exists():
            return []
        return [json.loads(line) for line in self.runlog_path.read_text().splitlines() if line]

    def runs(self, event: str = "start") -> Counter[str]:
        """How many times each task's handler started (or ended)."""
        return Counter(e["task_id"] for e in self.runlog() if e["event"] == event)

    # the broker ----------------------------------------------------------------------------

    def queue(self, name: str) -> str:
        return f"{self.namespace}.{name}"


async def demo_queue_counts(cluster: Cluster) -> tuple[int, int]:
    """(ready, unacked) messages of the demo work queue, as the broker counts them."""
    out = await asyncio.to_thread(
        rabbitmqctl,
        "list_queues",
        "-p",
        cluster.vhost,
        "--no-table-headers",
        "--quiet",
        "name",
        "messages_ready",
        "messages_unacknowledged",
    )
    for line in out.splitlines():
        fields = line.split()
        if fields and fields[0] == cluster.queue("work.demo"):
            return int(fields[1]), int(fields[2])
    raise AssertionError(f"no demo work queue in {out!r}")
