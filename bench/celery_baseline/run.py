"""Baseline (d), Celery: sequential round trip p50/p99 and a burst of tasks with results.

    .venv/bin/python bench/celery_baseline/run.py --n 500 --burst 10000 --runs 3 [--json out.json]

Needs the optional `bench` extra (`pip install -e '.[bench]'`); without Celery it prints a SKIP
line and exits 3. It creates a fresh database (result backend, polled every 1 ms through
`AsyncResult.get(interval=0.001)`) and a fresh RabbitMQ vhost (broker), starts one worker with 2
prefork processes, and removes all of it at exit. Each burst also reports the CPU it cost
(bench/cpu.py): the client (this process), the worker with its pool processes, every `postgres`
process and `beam.smp`, in seconds and per completed task.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
import cpu  # noqa: E402
from harness import (  # noqa: E402
    LOGS,
    create_database,
    drop_database,
    fresh_vhost,
    latency_summary,
)

SKIP_EXIT = 3


def _sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def measure(
    n: int, burst: int, runs: int, warmup: int, reuse_engine: bool = True, database: str = ""
) -> dict[str, Any]:
    from celery_app import app, echo
    from worker import start_worker, stop_worker

    if reuse_engine:
        # Celery's client (an unforked process) builds a NullPool engine per poll, i.e. one new
        # PostgreSQL connection every millisecond; a pooled, cached engine is its best case.
        app.backend.session_manager.forked = True
    app.backend.ResultSession().close()  # creates the result tables before the worker starts
    LOGS.mkdir(parents=True, exist_ok=True)
    proc = start_worker(
        {k: v for k, v in os.environ.items() if k.startswith("BENCH_CELERY")},
        LOGS / "celery-worker.log",
    )
    try:
        echo.apply_async(({"warm": True},)).get(timeout=60, interval=0.001)
        for i in range(warmup):
            echo.apply_async(({"i": i},)).get(timeout=10, interval=0.001)
        sequential, bursts = [], []
        for _ in range(runs):
            samples = []
            t_start = time.perf_counter()
            for i in range(n):
                t0 = time.perf_counter()
                echo.apply_async(({"i": i},)).get(timeout=10, interval=0.001)
                samples.append((time.perf_counter() - t0) * 1000)
            elapsed = time.perf_counter() - t_start
            sequential.append(latency_summary(samples) | {"per_s": round(n / elapsed, 1)})
            print(f"celery sequential: {sequential[-1]}", file=sys.stderr, flush=True)
        pool = [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
        groups = {"orchestrator": [os.getpid()], "agents": [proc.pid, *pool]}
        for _ in range(runs):
            before = cpu.snapshot(groups, database)
            t0 = time.perf_counter()
            pending = [echo.apply_async(({"i": i},)) for i in range(burst)]
            sent = time.perf_counter() - t0
            for r in pending:
                r.get(timeout=300, interval=0.001)
            elapsed = time.perf_counter() - t0
            bursts.append(
                {
                    "tasks": burst,
                    "elapsed_s": round(elapsed, 3),
                    "send_s": round(sent, 3),
                    "tasks_per_s": round(burst / elapsed, 1),
                    "cpu": cpu.account(before, cpu.snapshot(groups, database), burst),
                }
            )
            print(f"celery burst: {bursts[-1]}", file=sys.stderr, flush=True)
        return {"sequential": sequential, "burst": bursts, "client_reuses_engine": reuse_engine}
    finally:
        stop_worker(proc)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=500, help="sequential round trips per run")
    p.add_argument("--burst", type=int, default=10_000, help="tasks per burst")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--json", type=Path)
    p.add_argument(
        "--stock-client",
        action="store_true",
        help="keep Celery's client default (a new database connection per poll)",
    )
    a = p.parse_args()
    try:
        import celery  # noqa: F401
        import sqlalchemy  # noqa: F401
    except ImportError as exc:
        print(f"SKIP celery baseline: {exc} (install it: pip install -e '.[bench]')", flush=True)
        return SKIP_EXIT
    signal.signal(signal.SIGTERM, _sigterm)
    db_name, dsn = create_database("bench_celery")
    try:
        with fresh_vhost("bench_celery") as amqp_url:
            os.environ["BENCH_CELERY_BROKER"] = amqp_url
            # SQLAlchemy 2.1 maps postgresql:// to psycopg 3; the extra installs psycopg2.
            backend = dsn.replace("postgresql://", "postgresql+psycopg2://", 1)
            os.environ["BENCH_CELERY_BACKEND"] = "db+" + backend
            result = measure(a.n, a.burst, a.runs, a.warmup, not a.stock_client, db_name)
    finally:
        drop_database(db_name)
    text = json.dumps(result, indent=2)
    if a.json:
        a.json.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
