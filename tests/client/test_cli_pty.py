"""The CLI verbs on a real terminal (a pseudo-terminal), against a served chiffon: the bytes
they write never let a task's text drive the terminal, and never read it as rich markup."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import termios
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.client.test_cli_process import CHIFFON, ROOT, clean_env, start_server, stop_server

pytestmark = pytest.mark.e2e  # real processes

# window title, hyperlink, clear screen, carriage return, rich markup, an emoji code
HOSTILE = "[/bold] [link=https://evil.example]x[/link] \x1b]0;title\x07\x1b[2J\rFAKE :smile:"
FORBIDDEN = (b"\x1b]0;", b"\x1b]8;", b"\x1b[2J", b"\rFAKE", b"\xf0\x9f\x98\x84")  # last: the emoji


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    proc, url = start_server()
    yield url
    stop_server(proc)


def on_terminal(*args: str, url: str, until: bytes | None = None) -> tuple[int, bytes]:
    """Run `chiffon ARGS` with a pty as stdin, stdout and stderr (200 columns); return its
    exit code and every byte it wrote. With `until`, send Ctrl-C once that is seen."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    env = clean_env(CHIFFON_URL=url, TERM="xterm-256color", COLUMNS="200")
    proc = subprocess.Popen(
        [*CHIFFON, *args], cwd=ROOT, env=env, stdin=slave, stdout=slave, stderr=slave,
        start_new_session=True,
    )  # fmt: skip
    os.close(slave)
    out, interrupted, deadline = b"", False, time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
            if until is not None and until in out and not interrupted:
                proc.send_signal(signal.SIGINT)
                interrupted = True
        code = proc.wait(timeout=10)
    finally:
        proc.kill()
        os.close(master)
    return code, out


def assert_shown_not_interpreted(out: bytes) -> None:
    for sequence in FORBIDDEN:
        assert sequence not in out, (sequence, out)
    assert b"[/bold]" in out and b"[link=https://evil.example]" in out, out
    assert b"Traceback" not in out, out


def test_dispatch_wait_status_tasks_and_watch_show_task_text_as_text(url: str) -> None:
    task_id = str(uuid.uuid4())
    code, out = on_terminal(
        "dispatch", "fail", f"message={HOSTILE}", "--id", task_id, "--wait", url=url
    )
    assert code == 1, out
    assert_shown_not_interpreted(out)
    assert b"\\x1b]0;title\\x07\\x1b[2J\\rFAKE :smile:" in out, out

    code, out = on_terminal("status", task_id, url=url)
    assert code == 0, out
    assert_shown_not_interpreted(out)

    code, out = on_terminal("dispatch", "echo", f"p={HOSTILE}", "--wait", url=url)
    assert code == 0, out
    assert_shown_not_interpreted(out)  # the result, as JSON
    assert b"\\u001b]0;title\\u0007" in out, out

    code, out = on_terminal("tasks", "--work-type", "fail", url=url)
    assert code == 0 and task_id[:8].encode() in out, out

    code, out = on_terminal("watch", "--task", task_id, url=url, until=b"FAKE")
    assert code == 130, out
    assert_shown_not_interpreted(out)


def test_an_error_the_server_sends_back_is_shown_not_interpreted(url: str) -> None:
    code, out = on_terminal("dispatch", HOSTILE, url=url)  # an unknown work type, echoed
    assert code == 2, out
    for sequence in FORBIDDEN:
        assert sequence not in out, (sequence, out)
    assert out.startswith(b"chiffon: ") and b"Traceback" not in out, out
