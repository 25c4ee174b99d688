"""`chiffon schedule add|list|show|pause|resume|rm|trigger` against the real app: the command
line parsed as `chiffon` parses it, each action's output, and the exit codes of bad input."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from adapters.cli import parser as cli
from adapters.cli.client import ApiError, Client, checks
from adapters.cli.client import arguments as client_cli
from adapters.cli.client.schedule_verbs import schedule
from adapters.cli.client.verbs import Output, UsageError
from tests.client.conftest import Serve
from tests.helpers import eventually


def parsed(*argv: str) -> dict[str, Any]:
    command = cli.parse(["schedule", *argv], client_cli.add_verbs)
    assert command.verb == "schedule"
    return dict(command.overrides)


async def run(client: Client, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert await schedule(client, parsed(*argv), Output(json=False)) == 0
    return capsys.readouterr().out


async def test_every_action_from_the_command_line(
    serve: Serve, capsys: pytest.CaptureFixture[str]
) -> None:
    served = await serve()
    async with Client(served.url) as client:
        add = ("add", "echo", "text=backup", "--cron", "0 3 * * *", "--tz", "Europe/Paris")
        sid = (await run(client, capsys, *add, "--note", "nightly", "--overlap", "skip")).strip()
        listed = await run(client, capsys, "list")
        assert listed.startswith(f"{sid}  echo  cron '0 3 * * *' Europe/Paris  next 20")
        assert listed.rstrip().endswith("runs 0  # nightly")
        shown = (await run(client, capsys, "show", sid)).splitlines()
        assert shown[1].startswith("upcoming: 20") and shown[1].count(",") == 4
        assert shown[2:] == ["overlap skip, catch-up skip_missed", "last runs: none"]
        assert "  paused  " in await run(client, capsys, "pause", sid)
        assert "  next 20" in await run(client, capsys, "resume", sid)
        task_id = (await run(client, capsys, "trigger", sid)).strip()
        done = await client.wait(task_id, 5)
        assert done["result"] == {"text": "backup"} and done["schedule_id"] == sid

        async def last_runs() -> list[str]:
            return (await run(client, capsys, "show", sid)).splitlines()[4:]

        runs = await eventually(last_runs, lambda r: len(r) == 1 and "completed" in r[0])
        assert runs[0].endswith(f"completed  {task_id}")
        assert await run(client, capsys, "rm", sid) == f"deleted {sid}\n"
        assert await run(client, capsys, "list") == "no schedules\n"


async def test_json_output_and_an_interval(
    serve: Serve, capsys: pytest.CaptureFixture[str]
) -> None:
    served = await serve()
    async with Client(served.url) as client:
        opts = parsed("add", "echo", "--every", "90", "--attempts", "2", "--max-runs", "3")
        assert await schedule(client, opts, Output(json=True)) == 0
        created = json.loads(capsys.readouterr().out)
        assert (created["interval_s"], created["max_runs"]) == (90.0, 3)
        assert created["retry"]["max_attempts"] == 2


async def test_bad_input_is_refused_naming_the_field(serve: Serve) -> None:
    served = await serve()
    async with Client(served.url) as client:
        with pytest.raises(UsageError):
            await schedule(client, parsed("add", "echo"), Output(json=False))
        with pytest.raises(ApiError) as bad:
            await schedule(client, parsed("add", "echo", "--cron", "61 * * * *"), Output(False))
        assert (bad.value.status, bad.value.error_code) == (400, 1000)
        assert "minute: '61' is not valid (takes 0-59" in checks.details_line(bad.value.details)
        with pytest.raises(ApiError) as missing:
            await schedule(client, parsed("show", str(uuid.uuid4())), Output(json=False))
        assert (missing.value.status, missing.value.error_code) == (404, 2030)
