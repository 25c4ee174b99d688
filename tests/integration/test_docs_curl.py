"""docs/api.md's curl examples run as written (real curl, real `chiffon serve`, only the port
changed): a user who copies them gets what the comments promise."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.integration.served import chiffon_serve
from tests.integration.test_cli_process import ROOT

pytestmark = pytest.mark.e2e  # a real process: not in the quick suite

API_MD = ROOT / "docs" / "api.md"


def bash_block(after_heading: str) -> str:
    """The first ```bash block after `after_heading` in docs/api.md."""
    text = API_MD.read_text()
    section = text[text.index(after_heading) :]
    match = re.search(r"```bash\n(.*?)```", section, re.S)
    assert match, f"no bash block after {after_heading!r}"
    return match.group(1)


def json_values(text: str) -> list[object]:
    """Every JSON object or array in curl's output, in order (curl adds no newline)."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while (
        start := min((i for i in (text.find("{", at), text.find("[", at)) if i >= 0), default=-1)
    ) >= 0:
        value, at = decoder.raw_decode(text, start)
        found.append(value)
    return found


async def run(script: str, base: str) -> str:
    assert shutil.which("curl"), "curl is needed to check the docs' examples"
    proc = await asyncio.create_subprocess_exec(
        "bash", "-euo", "pipefail", "-c", script.replace("localhost:8080", base),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    text = out.decode()
    assert proc.returncode == 0, text
    return text


async def test_the_curl_walkthrough_runs_as_written(tmp_path: Path) -> None:
    async with chiffon_serve(tmp_path) as base:
        answers: list[Any] = json_values(await run(bash_block("## With curl"), base))
    accepted, echoed = answers[0], answers[1]
    assert accepted["status"] == "pending"
    assert echoed["status"] == "completed" and echoed["result"] == {"hello": "world"}
    sleeping, cancelled = answers[3], answers[4]
    assert sleeping["status"] == "running"
    assert cancelled["status"] == "cancelled" and cancelled["cancel_outcome"] == "requested"


async def test_the_trace_example_finds_the_task_by_its_id(tmp_path: Path) -> None:
    async with chiffon_serve(tmp_path) as base:
        out = await run(bash_block("## One id from the call"), base)
    trace = re.search(r"^X-Trace-Id: (\S+)", out, re.M | re.I)
    assert trace, out
    accepted, page, timeline = json_values(out)[:3]
    assert accepted["trace_id"] == trace.group(1)
    assert [t["trace_id"] for t in page["items"]] == [trace.group(1)]
    assert timeline["items"][0]["kind"] == "dispatched"
