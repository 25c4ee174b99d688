"""Text from a task, an agent or a server, made visible: never interpreted by a terminal."""

from __future__ import annotations

import json

import pytest

from chiffon.visible_text import visible, visible_json


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),  # sets the window title
        ("\x1b[2J\x1b[H", "\\x1b[2J\\x1b[H"),  # clears the screen
        (
            "\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\",
            "\\x1b]8;;http://evil\\x1b\\link\\x1b]8;;\\x1b\\",
        ),
        ("done\rFAKE", "done\\rFAKE"),  # overwrites the line
        ("a\bb", "a\\x08b"),
        ("one\ntwo\tthree", "one\\ntwo\\tthree"),
        ("\x9b31m", "\\x9b31m"),  # the one-character CSI
        ("\x7f", "\\x7f"),
        ("abc\u202edef\u2066", "abc\\u202edef\\u2066"),  # bidirectional override, isolate
        ("line\u2028sep", "line\\u2028sep"),
        ("é 中 😀 [/bold] C:\\dir", "é 中 😀 [/bold] C:\\dir"),  # printable text is left alone
    ],
)
def test_every_control_and_escape_character_is_written_out(raw: str, shown: str) -> None:
    assert visible(raw) == shown


def test_a_block_keeps_its_lines_and_tabs_but_nothing_else() -> None:
    assert visible("a\n\tb\r\x1b[1Ac", lines=True) == "a\n\tb\\r\\x1b[1Ac"


def test_json_made_safe_is_the_same_value() -> None:
    value = {"s": "\x1b[2J \x7f \x9b \u202e é", "k\u2028": [1, "\x00"]}
    text = visible_json(json.dumps(value, ensure_ascii=False))
    assert json.loads(text) == value
    assert all(c == "\n" or c.isprintable() for c in text), text
