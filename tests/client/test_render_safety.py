"""What the CLI and the text log print for server text: escapes shown, markup never read."""

from __future__ import annotations

import io
import logging
from typing import Any

from rich.console import Console

from adapters.cli.client import render
from adapters.cli.logs import TextFormatter

HOSTILE = "[/bold] [link=https://evil.example]click[/link] \x1b]0;title\x07 \x1b[2J\r:smile:"
TASK: dict[str, Any] = {
    "task_id": "6f1c1f9e-8a55-4b34-9a55-2f3e1b5a0c11",
    "status": "failed",
    "work_type": HOSTILE,
    "agent_type": HOSTILE,
    "agent_id": "0f1c1f9e-8a55-4b34-9a55-2f3e1b5a0c11",
    "attempt": 1,
    "max_attempts": 3,
    "priority": 3,
    "parameters": {"p": HOSTILE},
    "progress_message": HOSTILE,
    "error_message": HOSTILE + "\nsecond line",
    "output": HOSTILE + "\nline 2",
    "result": {"r": HOSTILE},
    "created_at": "2026-12-04T10:00:00+00:00",
    "updated_at": "2026-12-04T10:00:01+00:00",
}


def printed(renderable: Any) -> str:
    """What a markup-enabled, colour terminal console writes (the worst case for us)."""
    out = io.StringIO()
    Console(file=out, force_terminal=True, width=400, markup=True, emoji=True).print(renderable)
    return out.getvalue()


def assert_shown_not_interpreted(text: str) -> None:
    assert "[/bold]" in text and "[link=https://evil.example]" in text, text
    assert "\x1b]" not in text and "\x1b[2J" not in text and "\r" not in text, repr(text)
    assert "\\x1b]0;title\\x07" in text and ":smile:" in text, text


def test_task_view_tables_and_change_lines_show_text_as_text() -> None:
    for renderable in (
        render.task_view(TASK),
        render.tasks_table([TASK]),
        render.agents_table([{"agent_id": "a", "agent_type": HOSTILE, "status": HOSTILE}]),
    ):
        assert_shown_not_interpreted(printed(renderable))
    assert_shown_not_interpreted(render.change_line(TASK))  # printed as it is by `watch`


def test_output_keeps_its_lines_and_one_line_fields_do_not() -> None:
    view = printed(render.task_view(TASK))
    assert any(line.rstrip().endswith("m line 2") for line in view.splitlines())  # kept lines
    assert "\n" not in render.change_line(TASK)


def test_json_for_scripts_is_the_same_value_and_safe_to_print() -> None:
    text = render.dumps({"s": "\x1b[2J\x9b\u202e"})
    assert "\x1b" not in text and "\x9b" not in text and "\u202e" not in text
    assert text == '{\n  "s": "\\u001b[2J\\u009b\\u202e"\n}'


def test_a_field_with_a_newline_cannot_forge_a_log_line() -> None:
    record = logging.LogRecord(
        "chiffon.x", logging.INFO, __file__, 1, "agent %s joined", None, None
    )
    record.args = ("evil\n2026-12-04 INFO chiffon: forged",)
    record.agent_type = "t\n2026-12-04 ERROR forged [x=1]\x1b[2J"
    line = TextFormatter().format(record)
    assert "\n" not in line and "\x1b" not in line, line
    assert "agent evil\\n2026-12-04 INFO chiffon: forged joined" in line
    assert "agent_type=t\\n2026-12-04 ERROR forged [x=1]\\x1b[2J" in line
