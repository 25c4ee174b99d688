"""Text from a task, an agent or a server made safe to show on a terminal or in a log line:
every control, escape or direction-changing character is written out (`\\x1b`, `\\u202e`),
never handed over to be interpreted. Pure: the CLI and the text log format both use it."""

from __future__ import annotations

import re
from typing import Final

# C0 controls (ESC starts every terminal sequence; CR and BS overwrite what is shown), DEL,
# C1 controls (U+009B is a one-character CSI for some terminals), the bidirectional overrides
# and isolates ("Trojan Source"), and the Unicode line and paragraph separators.
_OTHERS: Final = "\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_ANY: Final = re.compile(f"[\x00-\x1f{_OTHERS}]")
_BUT_LINES: Final = re.compile(f"[\x00-\x08\x0b-\x1f{_OTHERS}]")  # keeps \t and \n
_LEFT_RAW_BY_JSON: Final = re.compile(f"[{_OTHERS}]")  # json.dumps escapes C0 itself
_NAMED: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def visible(text: str, *, lines: bool = False) -> str:
    """`text` with every unsafe character written as an escape; with `lines`, newlines and
    tabs are kept (an output shown as a block), everything else is still escaped."""
    return (_BUT_LINES if lines else _ANY).sub(_escape, text)


def visible_json(text: str) -> str:
    """JSON text (json.dumps with ensure_ascii=False) with what JSON leaves raw (DEL, C1, the
    direction marks) written as \\u escapes: the same value, safe to print."""
    return _LEFT_RAW_BY_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _escape(found: re.Match[str]) -> str:
    char = found.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
