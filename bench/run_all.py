"""Run every baseline and chiffon scenario in one go; print a table and the targets (ratios
measured in the same run); write bench/results/latest.json.

    .venv/bin/python bench/run_all.py [--quick] [--only NAME,...] [--profile NAME,...]

Baselines: bare aiohttp (a), naive durable dispatch (b), raw round trip (c), Celery (d, needs
the `bench` extra), PK SELECT (e), raw burst (f). chiffon: dispatch, status read, end-to-end
echo, burst, WebSocket push on PostgreSQL + RabbitMQ, and dispatch and end-to-end in memory.
The three bursts (chiffon, raw, Celery) also report CPU per completed task by process group.
Every process it starts is killed at the end, also on Ctrl-C or failure. See
docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cpu
import micro
import psutil
import scenarios as sc
from harness import (
    ADMIN_DSN,
    BENCH,
    LOGS,
    PYTHON,
    RESULTS,
    free_port,
    install_cleanup,
    latency_summary,
    process,
    spawn,
    stop,
    wait_http,
)

BASELINES = BENCH / "baselines"
RSS_LIMIT_MB = 150.0
RSS_GROWTH_MB = 5.0  # allowed RSS growth from the first to the third run (or 5%, if more)


@dataclass
class Config:
    runs: int
    duration_s: float
    sequential: int
    burst: int
    subscribers: int
    status_seed: int
    profile: set[str]
    only_names: set[str] = field(default_factory=set)


def result(
    name: str,
    label: str,
    metric: str,
    runs: list[dict[str, Any]],
    key: str,
    higher_is_better: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    """Medians over the runs of the main metric, p50, p99; peak RSS is the max over the runs."""

    def med(k: str) -> float | None:
        values = [r[k] for r in runs if r.get(k) is not None]
        return round(statistics.median(values), 3) if values else None

    rss = [r["peak_rss_mb"] for r in runs if r.get("peak_rss_mb") is not None]
    return {
        "name": name,
        "label": label,
        "metric": metric,
        "higher_is_better": higher_is_better,
        "median": med(key),
        "p50_ms": med("p50_ms"),
        "p99_ms": med("p99_ms"),
        "cpu_us_per_request": med("cpu_us_per_request"),
        "peak_rss_mb": max(rss) if rss else None,
        "runs": runs,
        **extra,
    }


# -- profiling (py-spy, optional) -------------------------------------------------------------


def start_profile(
    cfg: Config, name: str, pid: int, seconds: float
) -> subprocess.Popen[bytes] | None:
    if name not in cfg.profile:
        return None
    out = RESULTS / f"profile-{name}.txt"
    py_spy = Path(PYTHON).parent / "py-spy"
    cmd = [str(py_spy), "record", "-p", str(pid), "-d", str(int(seconds) + 1), "-r", "100"]
    return spawn([*cmd, "--nonblocking", "-f", "raw", "-o", str(out)], log=LOGS / "py-spy.log")


def finish_profile(proc: subprocess.Popen[bytes] | None, name: str) -> None:
    if proc is None:
        return
    proc.send_signal(signal.SIGINT)  # py-spy writes what it has recorded and exits
    try:
        proc.wait(60)
    finally:
        stop(proc)
    out = RESULTS / f"profile-{name}.txt"
    if out.exists():
        print(f"  profile: {out.relative_to(BENCH.parent)}")
        for line in summarise_profile(out):
            print("   ", line)


def summarise_profile(path: Path, top: int = 10) -> list[str]:
    """Self time by package and by frame, and the chiffon frames on most stacks (inclusive)."""
    leaf: dict[str, int] = {}
    package: dict[str, int] = {}
    ours: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        leaf[frames[-1]] = leaf.get(frames[-1], 0) + n
        where = frames[-1].rpartition("(")[2].split("/")[0].split(".py")[0]
        package[where] = package.get(where, 0) + n
        for f in set(frames):
            if ("(chiffon/" in f or "(adapters/" in f) and not f.startswith("<module>"):
                ours[f] = ours.get(f, 0) + n
    if not total:
        return ["no samples"]

    def best(counts: dict[str, int]) -> list[str]:
        ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:top]
        return [f"  {100 * n / total:5.1f}%  {f}" for f, n in ranked]

    return [
        f"{total} samples; self time by package:",
        *best(package),
        "self time by frame:",
        *best(leaf),
        "inclusive, chiffon code:",
        *best(ours),
    ]


# -- baselines --------------------------------------------------------------------------------


def wrk_baseline(
    cfg: Config, name: str, label: str, script: str, extra_args: list[str]
) -> dict[str, Any]:
    port = free_port()
    env = {"BENCH_WORK_TYPE": "bench"}
    cmd = [PYTHON, str(BASELINES / script), "--port", str(port), *extra_args]
    with process(cmd, log=LOGS / f"{name}.log") as proc:
        wait_http(f"http://127.0.0.1:{port}/health", 60, proc)
        lua = BENCH / ("status.lua" if "status" in label else "dispatch.lua")
        if "status" in label:
            env["BENCH_IDS_FILE"] = extra_args[extra_args.index("--ids-file") + 1]
        runs = sc.wrk_runs(
            f"http://127.0.0.1:{port}", lua, proc.pid, cfg.runs, cfg.duration_s, env=env
        )
    return result(name, label, "req/s", runs, "requests_per_s")


def baseline_bare(cfg: Config) -> list[dict[str, Any]]:
    return [wrk_baseline(cfg, "baseline_bare", "(a) bare aiohttp JSON POST", "bare_aiohttp.py", [])]


def baseline_naive(cfg: Config) -> list[dict[str, Any]]:
    label = "(b) naive INSERT + confirmed publish"
    return [wrk_baseline(cfg, "baseline_naive", label, "naive_dispatch.py", [])]


def baseline_pk(cfg: Config) -> list[dict[str, Any]]:
    ids = RESULTS / "ids-baseline-pk.txt"
    args = ["--seed", str(cfg.status_seed), "--ids-file", str(ids)]
    return [wrk_baseline(cfg, "baseline_pk", "(e) PK SELECT status read", "pk_select.py", args)]


def _run_json(
    cmd: list[str], name: str, timeout_s: float
) -> tuple[int, dict[str, Any] | None, str]:
    out = RESULTS / f"{name}.json"
    out.unlink(missing_ok=True)
    proc = spawn([*cmd, "--json", str(out)], log=LOGS / f"{name}.log", stdout=subprocess.PIPE)
    try:
        stdout, _ = proc.communicate(timeout=timeout_s)
    finally:
        stop(proc)
    data = json.loads(out.read_text()) if out.exists() else None
    return proc.returncode, data, stdout.decode(errors="replace")


def baseline_raw(cfg: Config) -> list[dict[str, Any]]:
    cmd = [PYTHON, str(BASELINES / "raw_roundtrip.py"), "--n", str(cfg.sequential)]
    rc, data, out = _run_json([*cmd, "--runs", str(cfg.runs)], "baseline_raw", 300)
    if rc != 0 or data is None:
        raise RuntimeError(f"raw_roundtrip.py exited {rc}: {out[-500:]}")
    return [
        result(
            "baseline_raw",
            "(c) raw round trip (sequential)",
            "p50 ms",
            data["runs"],
            "p50_ms",
            higher_is_better=False,
            throughput_per_s=statistics.median(r["per_s"] for r in data["runs"]),
        )
    ]


def with_cpu(res: dict[str, Any]) -> dict[str, Any]:
    """Adds a burst's CPU per completed task: per process group (medians over the runs) and the
    median total, the figure the CPU target compares."""
    totals = [r["cpu"]["total"]["ms_per_task"] for r in res["runs"] if r.get("cpu")]
    res["cpu_per_task"] = cpu.median_cpu(res["runs"])
    res["cpu_ms_per_task"] = round(statistics.median(totals), 3) if totals else None
    return res


def cpu_line(r: dict[str, Any]) -> str:
    c = r["cpu"]
    parts = [f"{g} {v['ms_per_task']:.2f}" for g, v in c["groups"].items()]
    return f"CPU ms per task: {', '.join(parts)}; total {c['total']['ms_per_task']:.2f}"


def baseline_raw_burst(cfg: Config) -> list[dict[str, Any]]:
    cmd = [PYTHON, str(BASELINES / "raw_burst.py"), "--n", str(cfg.burst)]
    rc, data, out = _run_json([*cmd, "--runs", str(cfg.runs)], "baseline_raw_burst", 900)
    if rc != 0 or data is None:
        raise RuntimeError(f"raw_burst.py exited {rc}: {out[-500:]}")
    for r in data["runs"]:
        print(f"  raw burst: {r['completed_per_s']} completed/s; {cpu_line(r)}", flush=True)
    label = f"(f) raw burst of {cfg.burst}, 2 agents x 8"
    return [with_cpu(result("baseline_raw_burst", label, "completed/s", data["runs"],
                            "completed_per_s"))]  # fmt: skip


def baseline_celery(cfg: Config) -> list[dict[str, Any]]:
    cmd = [PYTHON, str(BENCH / "celery_baseline" / "run.py"), "--n", str(cfg.sequential)]
    cmd += ["--burst", str(cfg.burst), "--runs", str(cfg.runs)]
    rc, data, out = _run_json(cmd, "baseline_celery", 900)
    if rc == 3:
        line = out.strip().splitlines()[-1] if out.strip() else "celery not installed"
        print(f"  {line}")
        return [
            {"name": "celery_seq", "skipped": line},
            {"name": "celery_burst", "skipped": line},
        ]
    if rc != 0 or data is None:
        raise RuntimeError(f"celery_baseline/run.py exited {rc}: {out[-500:]}")
    for r in data["burst"]:
        print(f"  celery burst: {r['tasks_per_s']} tasks/s; {cpu_line(r)}", flush=True)
    return [
        result(
            "celery_seq",
            "(d) Celery round trip (sequential)",
            "p50 ms",
            data["sequential"],
            "p50_ms",
            higher_is_better=False,
            throughput_per_s=statistics.median(r["per_s"] for r in data["sequential"]),
        ),
        with_cpu(
            result(
                "celery_burst",
                f"(d) Celery burst of {cfg.burst}",
                "tasks/s",
                data["burst"],
                "tasks_per_s",
            )
        ),
    ]


# -- chiffon ----------------------------------------------------------------------------------


def dispatch(cfg: Config, real: bool) -> list[dict[str, Any]]:
    name = "chiffon_dispatch" if real else "memory_dispatch"
    with sc.chiffon_stack(name, real) as st:
        prof = start_profile(cfg, name, st.serve.pid, cfg.runs * cfg.duration_s)
        runs = sc.wrk_runs(
            st.url, BENCH / "dispatch.lua", st.serve.pid, cfg.runs, cfg.duration_s,
            env={"BENCH_WORK_TYPE": "bench"},
        )  # fmt: skip
        finish_profile(prof, name)
    where = "PostgreSQL + RabbitMQ" if real else "memory"
    rss_after = [r["rss_after_mb"] for r in runs]
    growth = rss_after[-1] - rss_after[0]
    return [
        result(
            name,
            f"chiffon dispatch, {where}",
            "req/s",
            runs,
            "requests_per_s",
            rss_after_runs_mb=rss_after,
            rss_growth_mb=round(growth, 1),
            non_2xx=sum(r["non_2xx"] for r in runs),
        )
    ]


def chiffon_dispatch(cfg: Config) -> list[dict[str, Any]]:
    return dispatch(cfg, real=True)


def memory_dispatch(cfg: Config) -> list[dict[str, Any]]:
    return dispatch(cfg, real=False)


def chiffon_dispatch_workers(cfg: Config) -> list[dict[str, Any]]:
    """`chiffon serve --workers 2` under the dispatch load: reported beside the one-process
    figure, never in its place (no target uses it). RSS is the largest worker's."""
    name = "chiffon_dispatch_workers"
    with sc.chiffon_stack(name, True, extra_env={"CHIFFON_WORKERS": "2"}) as st:
        workers = [p.pid for p in psutil.Process(st.serve.pid).children()]
        runs = sc.wrk_runs(
            st.url, BENCH / "dispatch.lua", st.serve.pid, cfg.runs, cfg.duration_s,
            env={"BENCH_WORK_TYPE": "bench"},
        )  # fmt: skip
        peak = max(sc.peak_rss_mb(pid) for pid in workers)
    for run in runs:
        run["peak_rss_mb"] = round(peak, 1)
    return [
        result(
            name,
            "chiffon dispatch, PostgreSQL + RabbitMQ, serve --workers 2 (not a target)",
            "req/s",
            runs,
            "requests_per_s",
            non_2xx=sum(r["non_2xx"] for r in runs),
        )
    ]


def memory_retention(cfg: Config) -> list[dict[str, Any]]:
    """Sustained echo load in memory mode (the in-process agent runs every task): with at most
    CHIFFON_MEMORY_MAX_FINISHED finished tasks kept (2,000 here, so a quick run fills it), RSS
    after each run must stay flat once the cap is reached. Every run sends the same number of
    dispatches (wrk's threads stop at a count; wrk itself ends at its duration), so runs do
    not differ by how fast the machine happened to be: RSS follows the largest backlog a run
    builds, and a faster run builds a larger one."""
    name = "memory_retention"
    env = {"CHIFFON_MEMORY_MAX_FINISHED": "2000"}
    per_thread = round(cfg.duration_s * 1000)  # 2 wrk threads: 2,000 dispatches per second of run
    runs = []
    with sc.chiffon_stack(name, real=False, extra_env=env) as st:
        for _ in range(max(cfg.runs, 3)):
            [run] = sc.wrk_runs(
                st.url, BENCH / "dispatch.lua", st.serve.pid, 1, cfg.duration_s * 1.5,
                connections=8, warmup_s=0,
                env={"BENCH_WORK_TYPE": "echo", "BENCH_REQUESTS_PER_THREAD": str(per_thread)},
            )  # fmt: skip
            # Let the in-process agent finish the backlog: RSS is read with every task done.
            asyncio.run(sc.wait_until_idle(st.url, timeout_s=180))
            run["rss_after_mb"] = round(sc.rss_mb(st.serve.pid), 1)
            runs.append(run)
    after = [r["rss_after_mb"] for r in runs]
    return [
        result(
            name,
            f"memory mode, echo, {2 * per_thread:,} dispatches a run, at most 2,000 finished kept",
            "dispatches",
            runs,
            "requests",
            rss_after_runs_mb=after,
            rss_growth_mb=round(after[-1] - after[1], 1),  # from run 2: the cap is reached
        )
    ]


def chiffon_status(cfg: Config) -> list[dict[str, Any]]:
    name = "chiffon_status"
    with sc.chiffon_stack(name, real=True) as st:
        ids = asyncio.run(sc.seed_tasks(st.url, cfg.status_seed))
        path = RESULTS / "ids-chiffon-status.txt"
        path.write_text("".join(f"{i}\n" for i in ids))
        prof = start_profile(cfg, name, st.serve.pid, cfg.runs * cfg.duration_s)
        runs = sc.wrk_runs(
            st.url, BENCH / "status.lua", st.serve.pid, cfg.runs, cfg.duration_s,
            env={"BENCH_IDS_FILE": str(path)},
        )  # fmt: skip
        finish_profile(prof, name)
    return [result(name, "chiffon GET status, PostgreSQL", "req/s", runs, "requests_per_s")]


def _e2e(cfg: Config, st: sc.Stack, name: str) -> tuple[dict[str, Any], str]:
    observe = "ws" if asyncio.run(sc.ws_available(st.url)) else "poll"
    runs = []
    prof = start_profile(cfg, name, st.serve.pid, 600)
    for i in range(cfg.runs):
        t0 = time.perf_counter()
        legs: dict[str, float] = {}
        warmup = 20 if i == 0 else 0
        samples = asyncio.run(sc.e2e_latency(st.url, cfg.sequential, warmup, observe, legs))
        elapsed = time.perf_counter() - t0
        print(f"  legs (median ms): {legs}", flush=True)
        runs.append(
            latency_summary(samples)
            | {
                "per_s": round(len(samples) / elapsed, 1),
                "legs_median_ms": legs,
                "peak_rss_mb": sc.peak_rss_mb(st.serve.pid),
            }
        )
    finish_profile(prof, name)
    return (
        result(
            name,
            f"chiffon echo end-to-end (sequential, via {observe})",
            "p50 ms",
            runs,
            "p50_ms",
            higher_is_better=False,
            observed_via=observe,
        ),
        observe,
    )


def chiffon_e2e_burst(cfg: Config) -> list[dict[str, Any]]:
    out = []
    with sc.chiffon_stack("chiffon_e2e", real=True, agents=2, concurrency=8) as st:
        if "chiffon_e2e" in cfg.only_names:
            out.append(_e2e(cfg, st, "chiffon_e2e")[0])
        if "chiffon_burst" in cfg.only_names:
            runs = []
            prof = start_profile(cfg, "chiffon_burst", st.serve.pid, 600)
            for _ in range(cfg.runs):
                assert st.dsn is not None
                pids = {"orchestrator": [st.serve.pid], "agents": [a.pid for a in st.agents]}
                r = asyncio.run(sc.burst(st.url, st.dsn, cfg.burst, pids))
                r["peak_rss_mb"] = sc.peak_rss_mb(st.serve.pid)
                brief = {k: v for k, v in r.items() if k != "cpu"}
                print(f"  burst: {brief}; {cpu_line(r)}", flush=True)
                runs.append(r)
            finish_profile(prof, "chiffon_burst")
            out.append(
                with_cpu(
                    result(
                        "chiffon_burst",
                        f"chiffon burst of {cfg.burst}, 2 agents x 8",
                        "completed/s",
                        runs,
                        "completed_per_s",
                    )
                )
            )
    return out


def memory_e2e(cfg: Config) -> list[dict[str, Any]]:
    with sc.chiffon_stack("memory_e2e", real=False) as st:
        r, _ = _e2e(cfg, st, "memory_e2e")
    r["label"] = r["label"].replace("chiffon echo", "chiffon echo in memory,")
    return [r]


def chiffon_ws(cfg: Config) -> list[dict[str, Any]]:
    name = "chiffon_ws"
    # every subscriber comes from 127.0.0.1: lift the per-address and server-wide limits
    limit = str(cfg.subscribers + 100)
    env = {"CHIFFON_WS_MAX_PER_CLIENT": limit, "CHIFFON_WS_MAX_CONNECTIONS": limit}
    with sc.chiffon_stack(name, real=True, agents=1, concurrency=8, extra_env=env) as st:
        if not asyncio.run(sc.ws_available(st.url)):
            line = "SKIP WebSocket push: GET /api/v1/ws does not answer a ping"
            print(f"  {line}")
            return [{"name": name, "skipped": line}]
        prof = start_profile(cfg, name, st.serve.pid, 600)
        data = asyncio.run(sc.ws_push(st.url, st.serve.pid, cfg.subscribers, cfg.runs))
        finish_profile(prof, name)
        peak = sc.peak_rss_mb(st.serve.pid)
    runs = [r | {"peak_rss_mb": peak} for r in data.pop("runs")]
    return [
        result(
            name,
            f"chiffon WS push to {data['subscribers']} subscribers",
            "p50 ms",
            runs,
            "p50_ms",
            higher_is_better=False,
            **data,
        )
    ]


def decoder(cfg: Config) -> list[dict[str, Any]]:
    """In process: CPU ms per MiB of the strict decoder for every shape (bench/micro.py)."""
    runs = []
    for _ in range(cfg.runs):
        r = micro.decoder()
        print(f"  decoder ms/MiB: {json.dumps(r['shapes'])}", flush=True)
        runs.append(r)
    return [
        result(
            "decoder",
            "strict JSON decoder, 1 MiB of the costliest shape (CPU)",
            "worst ms/MiB",
            runs,
            "worst_ms_per_mib",
            higher_is_better=False,
        )
    ]


def fanout(cfg: Config) -> list[dict[str, Any]]:
    """In process: CPU µs per change pushed, by subscriptions on the server (bench/micro.py)."""
    runs = []
    for _ in range(cfg.runs):
        r = micro.fanout()
        print(f"  fan-out µs per change: {json.dumps(r['us_per_change'])}", flush=True)
        runs.append(r | {"at_10000": r["us_per_change"]["10000"]})
    return [
        result(
            "fanout",
            "WebSocket fan-out per change with 10,000 other subscriptions (CPU)",
            "µs/change",
            runs,
            "at_10000",
            higher_is_better=False,
        )
    ]


# name -> (runner, names it produces); ordered so that each baseline runs next to its chiffon
SCENARIOS: list[tuple[str, Callable[[Config], list[dict[str, Any]]], list[str]]] = [
    ("baseline_naive", baseline_naive, ["baseline_naive"]),
    ("chiffon_dispatch", chiffon_dispatch, ["chiffon_dispatch"]),
    ("chiffon_dispatch_workers", chiffon_dispatch_workers, ["chiffon_dispatch_workers"]),
    ("baseline_pk", baseline_pk, ["baseline_pk"]),
    ("chiffon_status", chiffon_status, ["chiffon_status"]),
    ("baseline_bare", baseline_bare, ["baseline_bare"]),
    ("memory_dispatch", memory_dispatch, ["memory_dispatch"]),
    ("memory_retention", memory_retention, ["memory_retention"]),
    ("memory_e2e", memory_e2e, ["memory_e2e"]),
    ("baseline_raw", baseline_raw, ["baseline_raw"]),
    ("baseline_raw_burst", baseline_raw_burst, ["baseline_raw_burst"]),
    ("chiffon_e2e_burst", chiffon_e2e_burst, ["chiffon_e2e", "chiffon_burst"]),
    ("baseline_celery", baseline_celery, ["celery_seq", "celery_burst"]),
    ("chiffon_ws", chiffon_ws, ["chiffon_ws"]),
    ("decoder", decoder, ["decoder"]),
    ("fanout", fanout, ["fanout"]),
]
ALL_NAMES = [n for _, _, names in SCENARIOS for n in names]

# The targets, each a ratio to a baseline of the same run:
# (description, chiffon result, baseline result, field, comparison, factor)
TARGETS = [
    ("dispatch on PostgreSQL + RabbitMQ >= 1.5x naive dispatch (b)", "chiffon_dispatch",
     "baseline_naive", "median", ">=", 1.5),
    ("echo end-to-end p50 <= 2.0x raw round trip (c)", "chiffon_e2e", "baseline_raw",
     "p50_ms", "<=", 2.0),
    ("echo end-to-end p50 <= 0.5x Celery (d)", "chiffon_e2e", "celery_seq",
     "p50_ms", "<=", 0.5),
    ("burst completed/s >= 2x Celery burst (d)", "chiffon_burst", "celery_burst",
     "median", ">=", 2.0),
    ("GET status >= 0.9x PK SELECT (e)", "chiffon_status", "baseline_pk",
     "median", ">=", 0.9),
    ("memory-mode dispatch >= 0.5x bare aiohttp (a)", "memory_dispatch", "baseline_bare",
     "median", ">=", 0.5),
    ("CPU per completed task <= 2x the raw pipeline's (f), end to end", "chiffon_burst",
     "baseline_raw_burst", "cpu_ms_per_task", "<=", 2.0),
]  # fmt: skip


def evaluate(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for desc, ours, base, key, op, factor in TARGETS:
        a, b = results.get(ours), results.get(base)
        if not a or not b or a.get(key) is None or b.get(key) is None or not b[key]:
            why = next(
                (r.get("skipped") or r.get("error") for r in (a, b) if r and not r.get(key)),
                "not run",
            )
            out.append({"target": desc, "verdict": "SKIP", "why": why})
            continue
        ratio = a[key] / b[key]
        ok = ratio >= factor if op == ">=" else ratio <= factor
        out.append(
            {
                "target": desc,
                "chiffon": a[key],
                "baseline": b[key],
                "ratio": round(ratio, 3),
                "wanted": f"{op} {factor}",
                "verdict": "PASS" if ok else "FAIL",
                "off_by_percent": None if ok else round(100 * abs(ratio / factor - 1), 1),
            }
        )
    d = results.get("chiffon_dispatch")
    if d and d.get("peak_rss_mb") is not None:
        peak = d["peak_rss_mb"]
        out.append(
            {
                "target": f"peak RSS under dispatch <= {RSS_LIMIT_MB:.0f} MB",
                "chiffon": peak,
                "baseline": RSS_LIMIT_MB,
                "ratio": round(peak / RSS_LIMIT_MB, 3),
                "wanted": "<= 1.0",
                "verdict": "PASS" if peak <= RSS_LIMIT_MB else "FAIL",
            }
        )
        after = d["rss_after_runs_mb"]
        allowed = max(RSS_GROWTH_MB, 0.05 * after[0])
        out.append(
            {
                "target": "check (not an issue target): no RSS growth across the dispatch "
                f"runs (<= {allowed:.1f} MB from run 1 to run {len(after)})",
                "chiffon": d["rss_growth_mb"],
                "baseline": allowed,
                "rss_after_runs_mb": after,
                "why": "needs 3 runs" if len(after) < 3 else None,
                "verdict": (
                    "SKIP"
                    if len(after) < 3
                    else ("PASS" if d["rss_growth_mb"] <= allowed else "FAIL")
                ),
            }
        )
    m = results.get("memory_retention")
    if m:
        after = m["rss_after_runs_mb"]
        allowed = max(RSS_GROWTH_MB, 0.05 * after[1])
        out.append(
            {
                "target": "memory mode keeps RSS flat under sustained load (retention cap): "
                f"<= {allowed:.1f} MB from run 2 to run {len(after)}",
                "chiffon": m["rss_growth_mb"],
                "baseline": allowed,
                "rss_after_runs_mb": after,
                "verdict": "PASS" if m["rss_growth_mb"] <= allowed else "FAIL",
            }
        )
    return out


# -- report -----------------------------------------------------------------------------------


def fmt(v: Any, digits: int = 1) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return str(v)


def table(results: list[dict[str, Any]]) -> str:
    head = ("scenario", "metric", "median", "p50 ms", "p99 ms", "CPU µs/req", "peak RSS MB", "runs")
    rows = [head]
    for r in results:
        if "skipped" in r or "error" in r:
            rows.append((r["name"], "-", r.get("skipped") or f"ERROR {r['error']}", *[""] * 5))
            continue
        rows.append(
            (
                r["label"],
                r["metric"],
                fmt(r["median"], 2 if r["metric"].endswith("ms") else 0),
                fmt(r["p50_ms"], 2),
                fmt(r["p99_ms"], 2),
                fmt(r.get("cpu_us_per_request")),
                fmt(r["peak_rss_mb"]),
                str(len(r["runs"])),
            )
        )
    widths = [max(len(row[i]) for row in rows if len(row[i]) < 70) for i in range(len(rows[0]))]
    lines = []
    for j, row in enumerate(rows):
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if j == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def targets_table(targets: list[dict[str, Any]]) -> str:
    lines = ["| target | chiffon | baseline | ratio | verdict |", "|---|---|---|---|---|"]
    for t in targets:
        if t["verdict"] == "SKIP":
            lines.append(f"| {t['target']} | - | - | - | SKIP ({t.get('why')}) |")
            continue
        off = f" (off by {t['off_by_percent']}%)" if t.get("off_by_percent") else ""
        lines.append(
            f"| {t['target']} | {fmt(t['chiffon'], 2)} | {fmt(t['baseline'], 2)} | "
            f"{fmt(t.get('ratio'), 2)} | {t['verdict']}{off} |"
        )
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    def cmd(*args: str) -> str:
        try:
            return subprocess.run(args, capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return "?"

    def version(pkg: str) -> str:
        try:
            return importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    async def pg() -> str:
        import asyncpg

        conn = await asyncpg.connect(ADMIN_DSN)
        try:
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()

    rabbit = cmd("rabbitmqctl", "-q", "version")
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "nproc": cmd("nproc"),
        "memory": cmd("free", "-h").splitlines()[1] if cmd("free", "-h") else "?",
        "cpu": platform.processor() or platform.machine(),
        "loadavg_at_start": os.getloadavg(),
        "python": platform.python_version(),
        "postgresql": asyncio.run(pg()),
        "rabbitmq": rabbit,
        "aiohttp": version("aiohttp"),
        "asyncpg": version("asyncpg"),
        "aiormq": version("aiormq"),
        "celery": version("celery"),
        "wrk": cmd("wrk", "-v").splitlines()[0] if cmd("wrk", "-v") else "?",
        "chiffon_commit": cmd("git", "-C", str(BENCH.parent), "rev-parse", "--short", "HEAD")
        + ("+uncommitted" if cmd("git", "-C", str(BENCH.parent), "status", "--porcelain") else ""),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="1 run each, shorter loads (~2 min)")
    p.add_argument("--only", help=f"comma-separated subset of: {', '.join(ALL_NAMES)}")
    p.add_argument("--profile", default="", help="py-spy the orchestrator in these scenarios")
    p.add_argument("--runs", type=int, help="runs per scenario (default 3, 1 with --quick)")
    p.add_argument("--duration", type=float, help="seconds per wrk run (default 8, quick 3)")
    p.add_argument("--burst", type=int, help="tasks per burst (default 10000, quick 2000)")
    p.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    a = p.parse_args()
    quick = a.quick
    cfg = Config(
        runs=a.runs or (1 if quick else 3),
        duration_s=a.duration or (3 if quick else 8),
        sequential=100 if quick else 500,
        burst=a.burst or (2000 if quick else 10_000),
        subscribers=1000,
        status_seed=2000,
        profile={s for s in a.profile.split(",") if s},
    )
    only = set(a.only.split(",")) if a.only else set(ALL_NAMES)
    unknown = only - set(ALL_NAMES)
    if unknown:
        p.error(f"unknown scenario(s) {', '.join(sorted(unknown))}; known: {', '.join(ALL_NAMES)}")
    cfg.only_names = only
    install_cleanup()
    RESULTS.mkdir(exist_ok=True)
    LOGS.mkdir(parents=True, exist_ok=True)
    info = machine()
    print(f"chiffon benchmarks {info['date']}: {info['nproc']} cores, Python {info['python']}, "
          f"PostgreSQL {info['postgresql']}, RabbitMQ {info['rabbitmq']}; "
          f"{cfg.runs} run(s) each", flush=True)  # fmt: skip
    started = time.monotonic()
    results: list[dict[str, Any]] = []
    try:
        for key, runner, names in SCENARIOS:
            if not only & set(names):
                continue
            t0 = time.monotonic()
            print(f"- {key} ...", flush=True)
            try:
                produced = [r for r in runner(cfg) if r["name"] in only]
            except Exception as exc:  # one broken scenario must not lose the others
                traceback.print_exc()
                produced = [{"name": n, "error": f"{type(exc).__name__}: {exc}"} for n in names]
                produced = [r for r in produced if r["name"] in only]
            for r in produced:
                if "median" in r:
                    print(f"  {r['label']}: {fmt(r['median'], 2)} {r['metric']} "
                          f"(p50 {fmt(r['p50_ms'], 2)} ms, p99 {fmt(r['p99_ms'], 2)} ms, "
                          f"CPU {fmt(r.get('cpu_us_per_request'))} µs per request)",
                          flush=True)  # fmt: skip
            print(f"  ({time.monotonic() - t0:.0f} s)", flush=True)
            results.extend(produced)
    except KeyboardInterrupt:
        print("interrupted: stopping every process started", file=sys.stderr)
        return 130
    finally:
        from harness import kill_all

        kill_all()
    by_name = {r["name"]: r for r in results}
    targets = evaluate(by_name)
    cpu_columns = {
        col: by_name.get(name, {}).get("cpu_per_task")
        for col, name in (("chiffon", "chiffon_burst"), ("raw (f)", "baseline_raw_burst"),
                          ("Celery (d)", "celery_burst"))
    }  # fmt: skip
    print()
    print(table(results))
    print()
    print(targets_table(targets))
    if any(cpu_columns.values()):
        print()
        print(cpu.cpu_table(cpu_columns))
    report = {
        "machine": info,
        "config": {k: sorted(v) if isinstance(v, set) else v for k, v in vars(cfg).items()},
        "quick": quick,
        "elapsed_s": round(time.monotonic() - started, 1),
        "results": results,
        "targets": targets,
        "cpu_per_completed_task": cpu_columns,
    }
    a.output.parent.mkdir(parents=True, exist_ok=True)
    a.output.write_text(json.dumps(report, indent=2, default=str))
    print(f"\n{len(results)} results in {report['elapsed_s']} s -> {a.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
