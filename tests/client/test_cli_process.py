"""The client verbs of `python -m chiffon` against a real `chiffon serve` process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.client.test_client_api import free_port

pytestmark = pytest.mark.e2e  # a real process or a browser: not in the quick suite

ROOT = Path(__file__).resolve().parents[2]
CHIFFON = [sys.executable, "-m", "chiffon"]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHIFFON_")}
    return {**env, **extra}


def start_server(**env: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    server_env = clean_env(CHIFFON_HEARTBEAT_INTERVAL_S="0.5", **env)
    proc = subprocess.Popen(
        [*CHIFFON, "serve", "--port", str(port)],
        cwd=ROOT,
        env=server_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1):
                return proc, url
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise
            time.sleep(0.1)


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    proc, url = start_server()
    yield url
    stop_server(proc)


class Run:
    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.code, self.out, self.err = proc.returncode, proc.stdout, proc.stderr
        assert "Traceback" not in self.out + self.err, self.out + self.err

    def json(self) -> Any:
        return json.loads(self.out)


def chiffon(*args: str, url: str | None = None, env: dict[str, str] | None = None) -> Run:
    extra = {"CHIFFON_URL": url} if url else {}
    proc = subprocess.run(
        [*CHIFFON, *args],
        cwd=ROOT,
        env=clean_env(**extra, **(env or {})),
        capture_output=True,
        text=True,
        timeout=30,
    )
    return Run(proc)


def one_error_line(run: Run, code: int, says: str) -> None:
    assert run.code == code, (run.out, run.err)
    assert run.err.startswith("chiffon: ") and run.err.count("\n") == 1, run.err
    assert says in run.err, run.err


def test_version_comes_from_the_package() -> None:
    run = chiffon("--version")
    assert (run.code, run.out.strip()) == (0, "chiffon 0.1.0")


def test_dispatch_wait_prints_the_result_and_exits_0(url: str) -> None:
    run = chiffon("dispatch", "echo", "hello=world", "n=3", "ok=true", "--wait", url=url)
    assert run.code == 0, run.err
    assert run.json() == {"hello": "world", "n": 3, "ok": True}


def test_dispatch_merges_params_from_a_file_with_pairs(url: str, tmp_path: Path) -> None:
    params = tmp_path / "params.json"
    params.write_text('{"a": 1, "n": 2}')
    run = chiffon("dispatch", "echo", "--params", f"@{params}", "--wait", "n=5", "--json", url=url)
    assert run.code == 0, run.err
    task = run.json()
    assert (task["status"], task["result"]) == ("completed", {"a": 1, "n": 5})


def test_dispatch_wait_on_a_failing_task_exits_1(url: str) -> None:
    run = chiffon("dispatch", "fail", "message=boom", "--wait", url=url)
    assert run.code == 1 and run.err.startswith("chiffon: dispatched fail as task"), run.err
    _ids, failed = run.err.splitlines()  # the ids, then the one line that says why
    assert (
        failed.startswith("chiffon: task ")
        and "failed: boom (the handler's exit code was 1)" in failed
    )


def test_dispatch_takes_a_trace_id_and_wait_says_the_one_it_used(url: str) -> None:
    trace = str(uuid.uuid4())
    run = chiffon("dispatch", "echo", "n=1", "--trace-id", trace, "--wait", url=url)
    assert run.code == 0 and f"(trace {trace})" in run.err, run.err
    task_id = run.err.split("as task ", 1)[1].split()[0]
    status = chiffon("status", task_id, "--json", url=url).json()
    assert status["trace_id"] == trace
    made = chiffon("dispatch", "echo", "--wait", url=url)  # none given: the server's, said
    said = made.err.split("(trace ", 1)[1].split(")")[0]
    assert str(uuid.UUID(said)) == said


def test_ctrl_c_stops_waiting_says_how_to_cancel_and_exits_130(url: str) -> None:
    task_id = str(uuid.uuid4())
    args = [*CHIFFON, "dispatch", "sleep", "seconds=60", "--id", task_id, "--wait"]
    proc = subprocess.Popen(
        args,
        cwd=ROOT,
        env=clean_env(CHIFFON_URL=url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while chiffon("status", task_id, "--json", url=url).out.find('"running"') < 0:
            assert time.monotonic() < deadline, "the sleep never ran"
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 130, (out, err)
    assert f"chiffon cancel {task_id}" in err and "Traceback" not in out + err
    assert chiffon("status", task_id, "--json", url=url).json()["status"] == "running"
    cancelled = chiffon("cancel", task_id, url=url)
    assert (cancelled.code, cancelled.out.strip()) == (0, f"cancelled {task_id}")
    again = chiffon("cancel", task_id, url=url)
    one_error_line(again, 2, "(error_code 2002)")


def test_dispatch_prints_the_id_and_status_tasks_agents_show_it(url: str) -> None:
    dispatched = chiffon("dispatch", "echo", "x=1", "--priority", "4", url=url)
    task_id = dispatched.out.strip()
    assert dispatched.code == 0 and uuid.UUID(task_id)
    accepted = chiffon("dispatch", "echo", "--json", url=url).json()
    assert accepted["status"] == "pending" and uuid.UUID(accepted["task_id"])
    status = chiffon("status", task_id, url=url)
    assert status.code == 0 and task_id in status.out and "work type" in status.out
    table = chiffon("tasks", "--work-type", "echo", "--limit", "5", url=url)
    assert table.code == 0
    header, *rows = table.out.splitlines()
    assert header.split()[:3] == ["id", "status", "work"] and "priority" in header
    assert len(rows) <= 5 and any(row.startswith(accepted["task_id"]) for row in rows)
    listed = chiffon("tasks", "--json", "--limit", "2", url=url).json()
    assert isinstance(listed, list) and len(listed) == 2 and "task_id" in listed[0]
    agents = chiffon("agents", url=url)
    assert agents.code == 0 and "cpu" in agents.out and "running/max" in agents.out
    assert " demo " in agents.out and "/4" in agents.out
    (agent,) = chiffon("agents", "--json", url=url).json()
    assert agent["agent_type"] == "demo"


def test_dispatch_takes_the_policies_and_status_says_why_a_task_waits(url: str) -> None:
    retried = chiffon(
        "dispatch", "fail", "--attempts", "2", "--retry-on", "failed", "--backoff", "0.1",
        "--wait", "--json", url=url,
    )  # fmt: skip
    assert retried.code == 1, retried.err
    task = retried.json()
    assert (task["status"], task["attempt"], task["retry_on"]) == ("failed", 2, ["failed"])
    later = chiffon("dispatch", "echo", "--delay", "60", "--json", url=url).json()
    assert later["not_before"] is not None
    shown = chiffon("status", later["task_id"], url=url)
    assert "scheduled until" in shown.out, shown.out
    row = next(
        r for r in chiffon("tasks", "--waiting", "scheduled", url=url).out.splitlines()
        if r.startswith(later["task_id"])
    )  # fmt: skip
    assert "pending (scheduled)" in row, row
    cancelled = chiffon("cancel", later["task_id"], "--json", url=url).json()
    assert cancelled["cancel_outcome"] == "not_started"
    # No agent of type infra in the demo: refused at once with --reject-if-no-agent ...
    refused = chiffon("dispatch", "ansible", "--reject-if-no-agent", url=url)
    one_error_line(refused, 2, "(error_code 3001)")
    # ... and otherwise kept, waiting for one.
    kept = chiffon("dispatch", "ansible", url=url).out.strip()

    def no_agent() -> set[str]:
        found = chiffon("tasks", "--waiting", "no_agent", "--json", url=url).json()
        return {t["task_id"] for t in found}

    deadline = time.monotonic() + 5
    while kept not in no_agent():
        assert time.monotonic() < deadline, "never listed as waiting for no_agent"
        time.sleep(0.1)
    both = chiffon("dispatch", "echo", "--delay", "1", "--at", "x", url=url)
    assert both.code == 2 and "--at: not allowed with argument --delay" in both.err


def watching(url: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CHIFFON, "watch", *args],
        cwd=ROOT,
        env=clean_env(CHIFFON_URL=url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def interrupt(proc: subprocess.Popen[str]) -> str:
    """Ctrl-C, then what it printed on stderr (it must exit 130 without a traceback)."""
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 130 and "Traceback" not in err, err
    return err


def test_watch_prints_one_line_per_change_until_ctrl_c(url: str) -> None:
    task_id = chiffon("dispatch", "sleep", "seconds=0.6", "step_s=0.2", url=url).out.strip()
    proc = watching(url, "--task", task_id, "--json")
    try:
        assert proc.stdout is not None
        states = []
        while not states or states[-1]["status"] != "completed":
            states.append(json.loads(proc.stdout.readline()))
        interrupt(proc)
    finally:
        proc.kill()
    assert {s["task_id"] for s in states} == {task_id}
    assert [s["progress_percent"] for s in states][-1] == 100
    proc = watching(url, "--task", task_id)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        assert line[1:4] == [task_id, "sleep", "completed"]
        assert interrupt(proc) == ""
    finally:
        proc.kill()


def test_bad_usage_and_api_errors_are_one_line_and_exit_2(url: str) -> None:
    one_error_line(chiffon("dispatch", "echo", "oops", url=url), 2, "bad parameter 'oops'")
    one_error_line(chiffon("dispatch", "echo", "--params", "[1]", url=url), 2, "JSON object")
    one_error_line(chiffon("dispatch", "nope", url=url), 2, "(error_code 1001)")
    one_error_line(chiffon("status", "not-a-uuid", url=url), 2, "(error_code 1000)")
    one_error_line(chiffon("tasks", "--limit", "0", url=url), 2, "--limit must be at least 1")
    argparse_error = chiffon("dispatch", url=url)
    assert argparse_error.code == 2 and "work_type" in argparse_error.err


def test_no_server_exits_3_and_the_server_settings_do_not_matter() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    bad_server_setting = {"CHIFFON_HEARTBEAT_INTERVAL_S": "0", "CHIFFON_PORT": "eighty"}
    for args in (["tasks"], ["dispatch", "echo", "--wait"], ["watch"], ["agents", "--json"]):
        run = chiffon(*args, url=url, env=bad_server_setting)
        one_error_line(run, 3, f"no chiffon at {url} (is `chiffon serve` running?)")
    by_flag = chiffon("status", str(uuid.uuid4()), "--url", url)
    one_error_line(by_flag, 3, f"no chiffon at {url}")


def test_the_token_from_the_environment_or_the_flag() -> None:
    proc, url = start_server(CHIFFON_API_TOKEN="s3cret")
    try:
        one_error_line(chiffon("tasks", url=url), 2, "(error_code 4010)")
        assert chiffon("tasks", "--token", "s3cret", url=url).code == 0
        waited = chiffon(
            "dispatch", "echo", "a=1", "--wait", url=url, env={"CHIFFON_API_TOKEN": "s3cret"}
        )
        assert (waited.code, waited.json()) == (0, {"a": 1})
    finally:
        stop_server(proc)


async def test_a_server_error_exits_4(aiohttp_server: Any) -> None:
    async def unavailable(_: web.Request) -> web.Response:
        body = {"error_code": 5030, "error_message": "store unavailable", "trace_id": None}
        return web.json_response(body, status=503)

    app = web.Application()
    app.router.add_get("/api/v1/agents", unavailable)
    server = await aiohttp_server(app)
    proc = await asyncio.create_subprocess_exec(
        *CHIFFON,
        "agents",
        "--url",
        str(server.make_url("")),
        cwd=ROOT,
        env=clean_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 4, (out, err)
    assert err.decode() == "chiffon: store unavailable (error_code 5030)\n"


def test_watch_replays_what_happened_in_time_order(url: str) -> None:
    trace = str(uuid.uuid4())
    made = [
        chiffon("dispatch", "echo", f"n={n}", "--trace", trace, "--wait", "--json", url=url)
        for n in range(4)
    ]
    ids = [run.json()["task_id"] for run in made]
    proc = watching(url, "--trace", trace, "--json")
    try:
        assert proc.stdout is not None
        replayed = [json.loads(proc.stdout.readline())["task_id"] for _ in ids]
        interrupt(proc)
    finally:
        proc.kill()
    assert replayed == ids, "the replay is not oldest first"


def test_errors_say_the_allowed_values_and_the_shape_of_a_url(url: str) -> None:
    one_error_line(
        chiffon("dispatch", "echo", "--priority", "9", url=url),
        2,
        "--priority must be 1 (background) .. 5 (critical, delivered first), got 9",
    )
    at = chiffon("dispatch", "echo", "--at", "tomorrow", url=url)
    one_error_line(at, 2, "--at 'tomorrow' is not a time: use 2026-12-24T18:30:00Z (UTC)")
    assert "--delay S" in at.err
    statuses = "pending, running, completed, failed, cancelled, timed_out; got 'done'"
    one_error_line(chiffon("tasks", "--status", "done", url=url), 2, f"must be one of {statuses}")
    one_error_line(chiffon("agents", "--status", "up", url=url), 2, "online, busy, offline")
    one_error_line(chiffon("tasks", "--waiting", "x", url=url), 2, "scheduled, retry_backoff")
    # A naive --at is this machine's local time, sent with its offset.
    tomorrow = (datetime.now() + timedelta(days=1)).strftime("%Y-%m-%d %H:%M")
    later = chiffon("dispatch", "echo", "--at", tomorrow, "--json", url=url)
    assert later.code == 0, later.err
    sent = datetime.fromisoformat(later.json()["not_before"])
    assert sent == datetime.fromisoformat(tomorrow).astimezone(), (tomorrow, sent)
    # The shapes people paste: the API's prefix, no scheme; both reach the server.
    host_port = url.removeprefix("http://")
    for given in (f"{url}/api", f"{url}/api/v1/", host_port):
        run = chiffon("tasks", "--limit", "1", "--url", given)
        assert run.code == 0, (given, run.err)
    one_error_line(
        chiffon("tasks", "--url", f"{url}/somewhere"), 2, "has a path: give the server's address"
    )
    one_error_line(chiffon("tasks", "--url", "ftp://x"), 2, "like http://127.0.0.1:8080")
    # What the server refuses says why, field by field.
    refused = chiffon("dispatch", "echo", "--timeout", "-1", url=url)
    one_error_line(refused, 2, "timeout_s: ")


def test_tasks_searches_by_text_id_agent_and_time(url: str) -> None:
    marker = f"needle-{uuid.uuid4().hex[:8]}"
    made = chiffon("dispatch", "echo", f"tag={marker}", "--wait", "--json", url=url).json()
    task_id = made["task_id"]

    def found(*args: str) -> list[str]:
        run = chiffon("tasks", "--json", *args, url=url)
        assert run.code == 0, run.err
        return [t["task_id"] for t in run.json()]

    assert found("--search", marker.upper()) == [task_id]
    assert found("-q", marker, "--status", "failed") == []
    assert found("--id", task_id[:8]) == [task_id]
    assert task_id in found("--agent", made["agent_id"], "--since", "5m")
    assert found("-q", marker, "--before", "1h") == []
    assert found("-q", marker, "--since", "2000-01-01T00:00:00Z") == [task_id]
    one_error_line(chiffon("tasks", "--since", "yesterday", url=url), 2, "15m, 2h, 3d (ago")
    one_error_line(chiffon("tasks", "--id", "xyz", url=url), 2, "(error_code 1000)")


def test_rerun_runs_a_finished_task_again(url: str) -> None:
    first = chiffon("dispatch", "echo", "n=7", "--wait", "--json", url=url).json()
    again = chiffon("rerun", first["task_id"], "--wait", "--json", url=url)
    assert again.code == 0, again.err
    task = again.json()
    assert (task["rerun_of"], task["result"]) == (first["task_id"], {"n": 7})
    assert task["task_id"] != first["task_id"]
    plain = chiffon("rerun", first["task_id"], url=url)
    assert plain.code == 0 and uuid.UUID(plain.out.strip())
    shown = chiffon("status", plain.out.strip(), url=url)
    assert [line.split() for line in shown.out.splitlines() if line.startswith("rerun of")] == [
        ["rerun", "of", first["task_id"]]
    ], shown.out
    pending = chiffon("dispatch", "echo", "--delay", "60", url=url).out.strip()
    one_error_line(chiffon("rerun", pending, url=url), 2, "(error_code 2020)")


def test_cancel_by_filter_asks_first_unless_yes(url: str) -> None:
    trace = str(uuid.uuid4())
    made = {chiffon("dispatch", "ansible", "--trace", trace, url=url).out.strip() for _ in range(3)}
    filters = ("--status", "pending", "--work-type", "ansible", "--trace", trace)

    def cancel(*extra: str, answer: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CHIFFON, "cancel", *filters, *extra],
            cwd=ROOT,
            env=clean_env(CHIFFON_URL=url),
            input=answer,
            capture_output=True,
            text=True,
            timeout=30,
        )

    said_no = cancel(answer="n\n")
    assert said_no.returncode == 1, said_no.stderr
    assert "cancel 3 tasks (status pending, work type ansible, trace id" in said_no.stderr
    assert "nothing cancelled" in said_no.stderr
    still = {t["task_id"] for t in chiffon("tasks", "--trace", trace, "--json", url=url).json()}
    assert still == made and all(
        chiffon("status", t, "--json", url=url).json()["status"] == "pending" for t in made
    )
    said_yes = cancel(answer="y\n")
    assert said_yes.returncode == 0 and "cancelled 3 of 3 tasks" in said_yes.stderr
    assert {chiffon("status", t, "--json", url=url).json()["status"] for t in made} == {"cancelled"}
    nothing = cancel("--yes")
    assert nothing.returncode == 0 and "no pending or running task matches" in nothing.stderr
    one_error_line(chiffon("cancel", url=url), 2, "give a task ID, or filters")
    one_error_line(
        chiffon("cancel", str(uuid.uuid4()), "--status", "pending", url=url), 2, "not both"
    )


def test_audit_checks_the_servers_histories_and_exits_0(url: str) -> None:
    trace = str(uuid.uuid4())
    assert chiffon("dispatch", "echo", "n=1", "--trace", trace, "--wait", url=url).code == 0
    run = chiffon("audit", "--trace", trace, "--settled", url=url)
    assert (run.code, run.out) == (0, "1 tasks checked, 0 violations\n"), run.err
    report = chiffon("audit", "--since", "1h", "--json", url=url)
    assert report.code == 0 and report.json()["violations"] == []
    one_error_line(chiffon("audit", "--since", "soon", url=url), 2, "--since 'soon' is not a time")


def test_simulate_prints_the_seed_and_its_counts() -> None:
    run = chiffon("simulate", "--seed", "9", "--tasks", "80", "--agents", "2")
    assert run.code == 0, run.out + run.err
    lines = run.out.splitlines()
    assert lines[0] == "simulating seed 9: 80 tasks, 2 agents"
    assert any(line.startswith("seed 9: 80 tasks (") for line in lines)
    assert lines[-1] == "0 violations"


def test_dispatch_and_schedule_take_a_concurrency_key_and_status_says_it_waits(url: str) -> None:
    key = f"db-{uuid.uuid4().hex[:6]}"
    limit = ("--concurrency-key", key, "--max-running", "1")
    first = chiffon("dispatch", "sleep", "seconds=30", *limit, url=url).out.strip()
    second = chiffon("dispatch", "sleep", "seconds=30", *limit, url=url).out.strip()
    shown = chiffon("status", second, url=url).out
    assert "concurrency_limit" in shown, shown
    assert f"{key} (max 1 running; not admitted yet)" in shown, shown
    waiting = chiffon("tasks", "--waiting", "concurrency_limit", "--json", url=url).json()
    assert second in {t["task_id"] for t in waiting} and first not in {
        t["task_id"] for t in waiting
    }
    for task_id in (second, first):
        assert chiffon("cancel", task_id, url=url).code == 0
    lonely = chiffon("dispatch", "echo", "--max-running", "2", url=url)
    one_error_line(lonely, 2, "--max-running goes with --concurrency-key")
    bad = chiffon("dispatch", "echo", "--concurrency-key", key, "--max-running", "0", url=url)
    one_error_line(bad, 2, "concurrency")
    added = chiffon(
        "schedule", "add", "sleep", "--every", "3600", "--concurrency-key", key, "--json", url=url
    ).json()
    assert added["concurrency"] == {"key": key, "max_running": 1}
    assert chiffon("schedule", "rm", added["schedule_id"], url=url).code == 0
