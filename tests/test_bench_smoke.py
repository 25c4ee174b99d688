"""Smoke test of the benchmark harness (bench/): the bare aiohttp baseline under wrk for 1 s.

It checks the plumbing run_all.py relies on (start a server process in its own session, wait for
it, drive it with wrk and the dispatch Lua script, parse wrk's report, stop the process group)
and that the figure is sane. About 3 s; no database or broker needed.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

from harness import PYTHON, free_port, parse_wrk, process, run_wrk, wait_http  # noqa: E402

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
        report = run_wrk(
            f"http://127.0.0.1:{port}",
            BENCH / "dispatch.lua",
            connections=8,
            duration_s=1,
            env={"BENCH_WORK_TYPE": "bench"},
        )
    assert proc.poll() is not None, "the baseline server must be stopped"
    assert report["requests"] > 0
    assert report["requests_per_s"] > 0
    assert report["non_2xx"] == 0, report["stderr"]
    assert report["socket_errors"] == "", report["socket_errors"]
    assert 0 < report["p50_ms"] <= report["p99_ms"]
