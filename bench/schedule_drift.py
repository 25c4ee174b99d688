"""Schedule drift: how late each fire is dispatched after its scheduled time.

    .venv/bin/python bench/schedule_drift.py --store postgres --schedules 50 --duration 20

Starts `chiffon serve` (memory: with its in-process demo agent; postgres: a fresh database),
creates N schedules firing every second (overlap allow_all), lets them run, then reads every
fired task and reports the drift (task created_at - scheduled_at) p50/p95/max and the fires
per schedule, written to bench/results/schedule-drift-<store>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import urllib.request
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import ROOT, chiffon_process, free_port, fresh_database, wait_ready


def call(url: str, body: dict[str, Any] | None = None, method: str = "GET") -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read() or b"null")


def fired(base: str, schedule_id: str) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = call(f"{base}/api/v1/tasks?schedule_id={schedule_id}&limit=500{cursor}")
        tasks += page["items"]
        if not page["next_cursor"]:
            return tasks
        cursor = f"&cursor={page['next_cursor']}"


def run(store: str, schedules: int, duration_s: int) -> dict[str, Any]:
    with ExitStack() as stack:
        port = free_port()
        env = {"CHIFFON_PORT": str(port), "CHIFFON_LOG_FORMAT": "json"}
        if store == "postgres":
            env["CHIFFON_DATABASE_URL"] = stack.enter_context(fresh_database())
        log = ROOT / "bench" / "results" / f"serve-schedules-{store}.log"
        stack.enter_context(chiffon_process("serve", env, log=log))
        wait_ready(port)
        base = f"http://127.0.0.1:{port}"
        body = {"interval_s": 1, "work_type": "echo", "overlap": "allow_all"}
        ids = [
            call(f"{base}/api/v1/schedules", body, "POST")["schedule_id"] for _ in range(schedules)
        ]
        time.sleep(duration_s)
        for sid in ids:
            call(f"{base}/api/v1/schedules/{sid}/pause", None, "POST")
        drift_ms, per_schedule = [], []
        for sid in ids:
            tasks = fired(base, sid)
            per_schedule.append(len(tasks))
            for t in tasks:
                late = datetime.fromisoformat(t["created_at"]) - datetime.fromisoformat(
                    t["scheduled_at"]
                )
                drift_ms.append(late.total_seconds() * 1000)
    drift_ms.sort()
    return {
        "scenario": f"schedule-drift-{store}",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "schedules": schedules,
        "duration_s": duration_s,
        "fires": len(drift_ms),
        "fires_per_schedule_min_max": [min(per_schedule), max(per_schedule)],
        "drift_ms_p50": round(statistics.median(drift_ms), 1),
        "drift_ms_p95": round(drift_ms[int(len(drift_ms) * 0.95) - 1], 1),
        "drift_ms_max": round(drift_ms[-1], 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--store", choices=["memory", "postgres"], default="postgres")
    p.add_argument("--schedules", type=int, default=50)
    p.add_argument("--duration", type=int, default=20)
    a = p.parse_args()
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    result = run(a.store, a.schedules, a.duration)
    print(json.dumps(result, indent=2), flush=True)
    out = ROOT / "bench" / "results" / f"schedule-drift-{a.store}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
