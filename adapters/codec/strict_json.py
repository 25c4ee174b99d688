"""The one strict JSON decoder for everything that enters chiffon (HTTP, WebSocket, AMQP).

Python's json module accepts what other systems refuse or cannot store: NaN and Infinity,
`\\u0000` (PostgreSQL's jsonb refuses it), lone surrogates (not encodable as UTF-8), integers of
any size (Python refuses to print more than 4300 digits), duplicate keys (the last silently
wins) and nesting deep enough to exhaust the recursion limit later, when the value is copied or
encoded. Each of those is refused here, at the edge, with the JSON path of the offending value;
the limits themselves are the domain's (chiffon.json_values).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import math
import re
from collections.abc import Iterator
from typing import Any, Final

from chiffon.json_values import INT_MAX, INT_MIN, MAX_DEPTH, JsonRejected, Refused, check

__all__ = ["MAX_DEPTH", "JsonRejected", "loads"]

_MAX_INT_CHARS: Final = 20  # "-9223372036854775808"
# Only these escapes can put NUL or a (possibly lone) surrogate into a decoded string; each
# found with the run of backslashes before it (an even run is escaped backslashes, not this).
_RISKY_ESCAPE: Final = re.compile(r"(\\+)u(?:0000|[dD][89a-fA-F])")
# In json.dumps(..., ensure_ascii=False) output a lone surrogate is kept as it is and NUL is
# written as the escape \u0000.
_NUL_ESCAPE: Final = re.compile(r"(\\+)u0000")
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_STRING_POSSESSIVE: Final = r'"[^"\\]*+(?:\\.[^"\\]*+)*+"'


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


# Numbers are left to C unless one could be out of range: 19+ digits, or a 3-digit exponent
# (inside a string too: a false alarm only costs the slower, exact decoder).
_FAST: Final = json.JSONDecoder(object_pairs_hook=_object, parse_constant=_constant)
_EXACT: Final = json.JSONDecoder(
    object_pairs_hook=_object, parse_constant=_constant, parse_int=_int, parse_float=_float
)
# Two searches, ASCII digits: one alternation of Unicode \d runs three times as long.
_LONG_DIGITS: Final = re.compile(r"[0-9]{19}")
_LONG_EXPONENT: Final = re.compile(r"[eE][-+]?[0-9]{3}")


# Too few containers to fit in a document this short for the collector to matter: not paused.
_SMALL: Final = 4096


def loads(raw: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """Decode UTF-8 JSON strictly; raises JsonRejected naming where the problem is. Its cost
    is linear in the size of `raw` whatever the shape (docs/performance.md, `decoder`)."""
    text = _text(raw)
    before = _Refusals.made
    big = _LONG_DIGITS.search(text) or _LONG_EXPONENT.search(text)
    decoder = _EXACT if big else _FAST
    try:
        with _collector_paused() if len(text) > _SMALL else contextlib.nullcontext():
            value = decoder.decode(text)
    except RecursionError:
        raise JsonRejected("", f"nested more than {max_depth} levels") from None
    except ValueError as exc:
        raise JsonRejected("", f"not valid JSON: {exc}") from None
    # The exact walk runs only when a cheap, C-speed look finds a reason: a literal a hook
    # refused, an escape that may decode to NUL or a surrogate, nesting past the limit.
    if (
        _Refusals.made != before
        or _too_deep(text, max_depth)
        or (_escaped(_RISKY_ESCAPE, text) and _holds_unsafe_text(value))
    ):
        check(value, max_depth)
    return value


def _holds_unsafe_text(value: Any) -> bool:
    """NUL or a lone surrogate in any string or key, seen in the value re-encoded (C speed):
    a valid pair of surrogate escapes (an emoji) is no reason to walk the whole value."""
    encoded = json.dumps(value, ensure_ascii=False)
    return _SURROGATE.search(encoded) is not None or _escaped(_NUL_ESCAPE, encoded)


def _escaped(escape: re.Pattern[str], text: str) -> bool:
    """True when `escape` (backslashes, then `u` and its digits) occurs in `text` as an
    escape: after an odd run of backslashes. Text with no `\\u` at all has none: found by a
    substring search first, ten times the regex's speed (most documents hold no \\u)."""
    return "\\u" in text and any(len(run) % 2 for run in escape.findall(text))


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """A document of many small containers would otherwise run the cyclic garbage collector
    over everything decoded so far, again and again (quadratic: 1 MiB nested 62 deep took
    170 ms in json.loads alone); JSON values hold no cycles, so nothing is lost by waiting."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _too_deep(text: str, max_depth: int) -> bool:
    if text.count("[") + text.count("{") <= max_depth:
        return False
    return _within_depth(max_depth).fullmatch(text) is None


@functools.cache
def _within_depth(max_depth: int) -> re.Pattern[str]:
    """Matches valid JSON nested at most `max_depth` levels, in one pass: each level is the
    one below in brackets, every quantifier possessive, so the engine never backtracks."""
    level = ""
    for _ in range(max_depth):
        level = rf'(?:[^\[\]{{}}"]++|{_STRING_POSSESSIVE}|[\[{{]{level}[\]}}])*+'
    return re.compile(level)


def _text(raw: bytes | str) -> str:
    try:
        if isinstance(raw, str):
            raw.encode("utf-8")
            return raw
        return raw.decode("utf-8")
    except UnicodeError:
        raise JsonRejected("", "not valid UTF-8") from None
