"""`chiffon audit` against the real app: a line per violation with its task and revisions,
exit 1 if any, `--json` for scripts."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from adapters.cli.client import Client
from adapters.cli.client.verbs import Output, audit
from chiffon.model import EventDraft, TaskStatus
from chiffon.patch import TaskPatch
from tests.client.conftest import Serve


async def test_audit_prints_each_violation_and_exits_1(
    serve: Serve, capsys: pytest.CaptureFixture[str]
) -> None:
    served = await serve()
    async with Client(served.url) as client:
        done = await client.wait((await client.dispatch("echo", {"n": 1})).task_id, 5)
        assert done["status"] == "completed"
        assert await audit(client, {}, Output(json=False)) == 0
        assert capsys.readouterr().out == "1 tasks checked, 0 violations\n"

        # A write behind the ledger's back: the completed task said running again.
        task_id = uuid.UUID(done["task_id"])
        revision = done["revision"]
        note = EventDraft("meddled", datetime.now(UTC), TaskStatus.RUNNING, {"status": "running"})
        patch = TaskPatch(status=TaskStatus.RUNNING)
        stored = await served.wired.tasks.apply(task_id, revision, patch, note)
        assert stored is not None

        assert await audit(client, {}, Output(json=False)) == 1
        lines = capsys.readouterr().out.splitlines()
        assert lines[0].startswith(
            f"{task_id} [one_terminal_state] revisions {revision}, {revision + 1}: "
        )
        assert lines[-1] == "1 tasks checked, 1 violations"

        assert await audit(client, {"settled": True}, Output(json=True)) == 1
        report = json.loads(capsys.readouterr().out)
        rules = [v["rule"] for v in report["violations"]]
        assert rules == ["one_terminal_state", "unfinished"], rules
        assert report["violations"][0]["revisions"] == [revision, revision + 1]

        other_trace = {"trace_id": str(uuid.uuid4())}
        assert await audit(client, other_trace, Output(json=False)) == 0
        assert capsys.readouterr().out == "0 tasks checked, 0 violations\n"
