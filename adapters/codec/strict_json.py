"""The one strict JSON decoder for everything that enters chiffon (HTTP, WebSocket, AMQP).

Python's json module accepts what other systems refuse or cannot store: NaN and Infinity,
`\\u0000` (PostgreSQL's jsonb refuses it), lone surrogates (not encodable as UTF-8), integers of
any size (Python refuses to print more than 4300 digits), duplicate keys (the last silently
wins) and nesting deep enough to exhaust the recursion limit later, when the value is copied or
encoded. Each of those is refused here, at the edge, with the JSON path of the offending value;
the limits themselves are the domain's (chiffon.json_values).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

from chiffon.json_values import INT_MAX, INT_MIN, MAX_DEPTH, JsonRejected, Refused, check

__all__ = ["MAX_DEPTH", "JsonRejected", "loads"]

_MAX_INT_CHARS: Final = 20  # "-9223372036854775808"
# Only these escapes can put NUL or a (possibly lone) surrogate into a decoded string.
_RISKY_ESCAPE: Final = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
_STRING: Final = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET: Final = re.compile(r"[^\[\]{}]+")
_EMPTY_PAIR: Final = re.compile(r"\[\]|\{\}")


class _Refusals:
    """Counts refusals made by the hooks: a decode that made one must be walked."""

    made = 0


def _refuse(reason: str) -> Refused:
    _Refusals.made += 1
    return Refused(reason)


def _int(text: str) -> int | Refused:
    if len(text) <= _MAX_INT_CHARS:
        value = int(text)
        if INT_MIN <= value <= INT_MAX:
            return value
    return _refuse("integer out of range (64-bit signed integers only)")


def _float(text: str) -> float | Refused:
    value = float(text)
    return value if math.isfinite(value) else _refuse("number out of range")


def _constant(name: str) -> Refused:
    return _refuse(f"{name} is not JSON")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any] | Refused:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                return _refuse(f"duplicate key {key!r}")
            seen.add(key)
    return result


_DECODER: Final = json.JSONDecoder(
    object_pairs_hook=_object, parse_int=_int, parse_float=_float, parse_constant=_constant
)


def loads(raw: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """Decode UTF-8 JSON strictly; raises JsonRejected naming where the problem is."""
    text = _text(raw)
    before = _Refusals.made
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        raise JsonRejected("", f"nested more than {max_depth} levels") from None
    except ValueError as exc:
        raise JsonRejected("", f"not valid JSON: {exc}") from None
    # The exact walk is slow, so it runs only when a cheap, C-speed look finds a reason: a
    # literal a hook refused, an escape that may decode to NUL or a surrogate, deep nesting.
    if _Refusals.made != before or _RISKY_ESCAPE.search(text) or _too_deep(text, max_depth):
        check(value, max_depth)
    return value


def _too_deep(text: str, max_depth: int) -> bool:
    if text.count("[") + text.count("{") <= max_depth:
        return False
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    for _ in range(max_depth):  # each pass removes the innermost level
        brackets = _EMPTY_PAIR.sub("", brackets)
        if not brackets:
            return False
    return True


def _text(raw: bytes | str) -> str:
    try:
        if isinstance(raw, str):
            raw.encode("utf-8")
            return raw
        return raw.decode("utf-8")
    except UnicodeError:
        raise JsonRejected("", "not valid UTF-8") from None
