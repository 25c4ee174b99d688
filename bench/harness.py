"""Benchmark plumbing: processes (always killed), fresh databases and vhosts, wrk, RSS, stats.

Every process the harness starts runs in its own session (process group) and is registered, so
`kill_all()` (called at exit, on SIGTERM and on Ctrl-C) ends it and everything it forked.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
LOGS = RESULTS / "logs"
PYTHON = sys.executable
ADMIN_DSN = os.environ.get(
    "CHIFFON_TEST_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
AMQP_BASE = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")

_PROCS: list[subprocess.Popen[bytes]] = []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unique(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"


# -- processes -------------------------------------------------------------------------------


def spawn(
    cmd: Sequence[str],
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
    stdout: int | None = None,
) -> subprocess.Popen[bytes]:
    """Start `cmd` in a new session, registered for `kill_all()`; output goes to `log`."""
    LOGS.mkdir(parents=True, exist_ok=True)
    out = open(log or os.devnull, "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        list(cmd),
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        stdout=stdout if stdout is not None else out,
        stderr=out,
        start_new_session=True,
        cwd=ROOT,
    )
    out.close()
    _PROCS.append(proc)
    return proc


def stop(proc: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left of it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace_s)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # the group may outlive its leader
    if proc.poll() is None:
        proc.wait(5)
    if proc in _PROCS:
        _PROCS.remove(proc)


def kill_all() -> None:
    for proc in list(_PROCS):
        stop(proc, grace_s=3.0)


def _on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def install_cleanup() -> None:
    """Kill every started process at exit; SIGINT/SIGTERM/SIGHUP raise KeyboardInterrupt.

    A handler of our own for SIGINT too: asyncio.run() replaces only the default one, with a
    handler that merely cancels the main task (which a load client may absorb)."""
    atexit.register(kill_all)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_sigterm)
    try:  # 1000 WebSockets need more than the usual 1024 descriptors (children inherit it)
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    except (ValueError, OSError):
        pass


@contextmanager
def process(
    cmd: Sequence[str], env: Mapping[str, str] | None = None, log: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    proc = spawn(cmd, env, log)
    try:
        yield proc
    finally:
        stop(proc)


@contextmanager
def chiffon_process(
    verb: str,
    env: Mapping[str, str],
    args: Sequence[str] = (),
    log: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    with process([PYTHON, "-m", "chiffon", verb, *args], env, log) as proc:
        yield proc


def wait_http(
    url: str, timeout_s: float = 30.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer 200 within {timeout_s}s")


def wait_ready(port: int, timeout_s: float = 30.0) -> None:
    wait_http(f"http://127.0.0.1:{port}/ready", timeout_s)


def _proc_status(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM) in MB."""
    return _proc_status(pid, "VmHWM:")


def rss_mb(pid: int) -> float:
    """The process's current resident set (VmRSS) in MB."""
    return _proc_status(pid, "VmRSS:")


# -- PostgreSQL and RabbitMQ isolation ------------------------------------------------------


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_database(prefix: str = "chiffon_bench") -> tuple[str, str]:
    name = unique(prefix)
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    return name, ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"


def drop_database(name: str) -> None:
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def fresh_database(prefix: str = "chiffon_bench") -> Iterator[str]:
    name, dsn = create_database(prefix)
    try:
        yield dsn
    finally:
        drop_database(name)


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@contextmanager
def fresh_vhost(prefix: str = "chiffon_bench") -> Iterator[str]:
    """A new RabbitMQ vhost for guest (rabbitmqctl, as root), deleted afterwards."""
    name = unique(prefix)
    _rabbitmqctl("add_vhost", name)
    try:
        _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        yield AMQP_BASE.rstrip("/") + "/" + name
    finally:
        _rabbitmqctl("delete_vhost", name)


# -- wrk -------------------------------------------------------------------------------------


def run_wrk(
    url: str,
    script: Path,
    connections: int,
    duration_s: float,
    threads: int = 2,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration_s))}s",
        "--timeout",
        "5s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    done = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
        timeout=duration_s + 60,
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited {done.returncode}: {done.stderr.strip()[:500]}")
    return parse_wrk(done.stdout) | {"stderr": done.stderr.strip()[:500]}


def parse_wrk(text: str) -> dict[str, Any]:
    def ms(value: str) -> float:
        num, unit = re.match(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
        return float(num) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]

    pct = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", text, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    sock = re.search(r"Socket errors: (.*)", text)
    return {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),  # type: ignore[union-attr]
        "p50_ms": ms(pct["50"]),
        "p99_ms": ms(pct["99"]),
        "requests": int(re.search(r"(\d+) requests in", text).group(1)),  # type: ignore[union-attr]
        "non_2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": sock.group(1) if sock else "",
    }


# -- statistics ------------------------------------------------------------------------------


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of `samples`."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    k = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def latency_summary(samples_ms: Sequence[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(samples_ms, 50), 3),
        "p99_ms": round(percentile(samples_ms, 99), 3),
        "mean_ms": round(statistics.fmean(samples_ms), 3) if samples_ms else float("nan"),
        "samples": len(samples_ms),
    }
