"""Dispatch throughput: POST /api/v1/dispatch with wrk against `chiffon serve`.

    .venv/bin/python bench/dispatch_throughput.py --store postgres --runs 3 --duration 10

Each run starts a fresh orchestrator (and, for postgres, a fresh database), loads it with wrk
(64 connections by default) and reports requests/s, p50/p99 latency and the server's peak RSS;
the median run is printed and every run is written to bench/results/dispatch-<store>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (
    ROOT,
    chiffon_process,
    free_port,
    fresh_database,
    peak_rss_mb,
    run_wrk,
    wait_ready,
)


def one_run(store: str, connections: int, duration_s: int) -> dict[str, Any]:
    with ExitStack() as stack:
        port = free_port()
        env = {
            "CHIFFON_PORT": str(port),
            "CHIFFON_ROUTES": "bench=bench",
            "CHIFFON_LOG_FORMAT": "json",
        }
        if store == "postgres":
            env["CHIFFON_DATABASE_URL"] = stack.enter_context(fresh_database())
        log = ROOT / "bench" / "results" / f"serve-{store}.log"
        proc = stack.enter_context(chiffon_process("serve", env, log=log))
        wait_ready(port)
        result = run_wrk(
            f"http://127.0.0.1:{port}", ROOT / "bench" / "dispatch.lua", connections, duration_s
        )
        result["peak_rss_mb"] = round(peak_rss_mb(proc.pid), 1)
        return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--store", choices=["memory", "postgres"], default="postgres")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--connections", type=int, default=64)
    a = p.parse_args()
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    runs = []
    for i in range(a.runs):
        r = one_run(a.store, a.connections, a.duration)
        print(
            f"run {i + 1}/{a.runs}: {r['requests_per_s']:.0f} req/s, p50 {r['p50_ms']:.2f} ms, "
            f"p99 {r['p99_ms']:.2f} ms, non-2xx {r['non_2xx']}, peak RSS {r['peak_rss_mb']} MB",
            flush=True,
        )
        runs.append(r)
    median = sorted(runs, key=lambda r: r["requests_per_s"])[len(runs) // 2]
    summary = {
        "scenario": f"dispatch-{a.store}",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "connections": a.connections,
        "duration_s": a.duration,
        "median": median,
        "runs": runs,
        "requests_per_s_all": [round(r["requests_per_s"]) for r in runs],
        "requests_per_s_median": statistics.median(r["requests_per_s"] for r in runs),
    }
    out = ROOT / "bench" / "results" / f"dispatch-{a.store}.json"
    out.write_text(json.dumps(summary, indent=2))
    print(
        f"median: {median['requests_per_s']:.0f} req/s, p50 {median['p50_ms']:.2f} ms, "
        f"p99 {median['p99_ms']:.2f} ms -> {out.relative_to(ROOT)}"
    )


if __name__ == "__main__":
    main()
