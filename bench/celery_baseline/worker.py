"""Start and stop the Celery worker of baseline (d): `--concurrency 2 --pool prefork`.

    BENCH_CELERY_BROKER=amqp://... BENCH_CELERY_BACKEND=db+postgresql+psycopg2://... \
        .venv/bin/python bench/celery_baseline/worker.py

`start_worker()` returns the worker process; `stop_worker()` ends it and every pool process it
forked (SIGTERM, then SIGKILL for what is left), so nothing outlives the benchmark.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent


def worker_command() -> list[str]:
    return [
        sys.executable, "-m", "celery", "-A", "celery_app", "worker",
        "--concurrency", "2", "--pool", "prefork", "--loglevel", "WARNING",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip


def start_worker(env: Mapping[str, str], log: Path | None = None) -> subprocess.Popen[bytes]:
    out = open(log or os.devnull, "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        worker_command(),
        env={**os.environ, **env, "PYTHONPATH": str(HERE)},
        cwd=HERE,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    out.close()
    return proc


def stop_worker(proc: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
    try:
        family = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for child in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()


def main() -> None:
    proc = start_worker({})
    try:
        proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop_worker(proc)


if __name__ == "__main__":
    main()
