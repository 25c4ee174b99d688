"""Smoke test of the benchmark harness (bench/): the bare aiohttp baseline under wrk for 1 s,
and the CPU accounting of the bursts (bench/cpu.py) on a child process that burns CPU.

It checks the plumbing run_all.py relies on (start a server process in its own session, wait for
it, drive it with wrk and the dispatch Lua script, parse wrk's report, stop the process group;
count a process group's CPU without counting a named child twice) and that the figures are
sane. About 4 s; no database or broker needed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e  # a real process or a browser: not in the quick suite

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import cpu  # noqa: E402
from harness import PYTHON, free_port, parse_wrk, process, wait_http  # noqa: E402
from scenarios import wrk_runs  # noqa: E402

WRK_REPORT = """Running 1s test @ http://127.0.0.1:8090
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   610.12us  201.44us   4.10ms   91.02%
  Latency Distribution
     50%  580.00us
     75%  650.00us
     90%  750.00us
     99%    1.20ms
  12345 requests in 1.00s, 2.10MB read
  Non-2xx or 3xx responses: 7
Requests/sec:  12340.55
Transfer/sec:      2.10MB
"""


def test_parse_wrk_reads_rate_percentiles_and_errors() -> None:
    report = parse_wrk(WRK_REPORT)
    assert report["requests_per_s"] == pytest.approx(12340.55)
    assert report["p50_ms"] == pytest.approx(0.58)
    assert report["p99_ms"] == pytest.approx(1.2)
    assert report["requests"] == 12345
    assert report["non_2xx"] == 7


def test_bare_aiohttp_baseline_under_wrk_for_one_second() -> None:
    assert shutil.which("wrk"), "wrk is missing: scripts/services installs it (apt-get)"
    port = free_port()
    cmd = [PYTHON, str(BENCH / "baselines" / "bare_aiohttp.py"), "--port", str(port)]
    with process(cmd) as proc:
        wait_http(f"http://127.0.0.1:{port}/health", 15, proc)
        [report] = wrk_runs(
            f"http://127.0.0.1:{port}",
            BENCH / "dispatch.lua",
            proc.pid,
            runs=1,
            duration_s=1,
            connections=8,
            warmup_s=0,
            env={"BENCH_WORK_TYPE": "bench"},
        )
    assert proc.poll() is not None, "the baseline server must be stopped"
    assert report["requests"] > 0
    assert report["requests_per_s"] > 0
    assert report["non_2xx"] == 0, report["stderr"]
    assert report["socket_errors"] == "", report["socket_errors"]
    assert 0 < report["p50_ms"] <= report["p99_ms"]
    # The server's CPU per request: what shared-machine comparisons use instead of req/s.
    assert report["cpu_s"] > 0
    assert report["cpu_us_per_request"] > 0


BURN = (  # 0.4 s of CPU, then idle until killed
    "import time\n"
    "t = time.process_time()\n"
    "while time.process_time() - t < 0.4: pass\n"
    "print('done', flush=True)\n"
    "time.sleep(60)\n"
)


def test_cpu_accounting_counts_a_named_child_in_its_own_group_only() -> None:
    child = subprocess.Popen([PYTHON, "-c", BURN], stdout=subprocess.PIPE)
    try:
        groups = {"orchestrator": [os.getpid()], "agents": [child.pid]}
        before = cpu.snapshot(groups, database="no_such_database")
        assert child.stdout is not None and child.stdout.readline() == b"done\n"
        time.sleep(0.05)
        report = cpu.account(before, cpu.snapshot(groups, database="no_such_database"), 100)
    finally:
        child.kill()
        child.wait()
    burnt = report["groups"]["agents"]["cpu_s"]
    assert 0.3 <= burnt <= 1.0, report
    assert report["groups"]["orchestrator"]["cpu_s"] < 0.3, report  # the child is not ours too
    assert report["groups"]["agents"]["ms_per_task"] == pytest.approx(10 * burnt, rel=0.02)
    assert report["total"]["cpu_s"] >= burnt
    assert report["machine_busy"]["cpu_s"] >= 0.9 * burnt
    assert {"postgresql", "rabbitmq"} <= set(report["groups"])  # shared: any value goes
    table = cpu.cpu_table({"here": cpu.median_cpu([{"cpu": report}]), "absent": None})
    assert "| agents or workers | " in table and "| total | " in table
