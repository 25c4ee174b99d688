"""The one strict JSON decoder for everything that enters chiffon (HTTP, WebSocket, AMQP).

Python's json module accepts what other systems refuse or cannot store: NaN and Infinity,
`\\u0000` (PostgreSQL's jsonb refuses it), lone surrogates (not encodable as UTF-8), integers of
any size (Python refuses to print more than 4300 digits), duplicate keys (the last silently
wins) and nesting deep enough to exhaust the recursion limit later, when the value is copied or
encoded. Each of those is refused here, at the edge, with the JSON path of the offending value.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

MAX_DEPTH: Final = 64
INT_MIN: Final = -(2**63)
INT_MAX: Final = 2**63 - 1
_MAX_INT_CHARS: Final = 20  # "-9223372036854775808"
_MAX_PATH_CHARS: Final = 120
# Only these escapes can put NUL or a (possibly lone) surrogate into a decoded string.
_RISKY_ESCAPE: Final = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
_STRING: Final = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET: Final = re.compile(r"[^\[\]{}]+")
_EMPTY_PAIR: Final = re.compile(r"\[\]|\{\}")
_SIMPLE_KEY: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")


class JsonRejected(ValueError):
    """JSON that chiffon does not accept; `path` locates the value ("" for the document)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}" if path else reason)
        self.path = path
        self.reason = reason

    @property
    def field(self) -> str:
        """The top-level member the problem is in ("body" when it is the document itself)."""
        head = self.path.split(".", 1)[0].split("[", 1)[0]
        return head or "body"


class _Bad:
    """Stands in for a refused value during decoding, so the walk can report its path."""

    __slots__ = ("reason",)
    made = 0  # how many were ever made: a decode that made one must be walked

    def __init__(self, reason: str) -> None:
        self.reason = reason
        _Bad.made += 1


def _int(text: str) -> int | _Bad:
    if len(text) <= _MAX_INT_CHARS:
        value = int(text)
        if INT_MIN <= value <= INT_MAX:
            return value
    return _Bad("integer out of range (64-bit signed integers only)")


def _float(text: str) -> float | _Bad:
    value = float(text)
    return value if math.isfinite(value) else _Bad("number out of range")


def _constant(name: str) -> _Bad:
    return _Bad(f"{name} is not JSON")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any] | _Bad:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                return _Bad(f"duplicate key {key!r}")
            seen.add(key)
    return result


_DECODER: Final = json.JSONDecoder(
    object_pairs_hook=_object, parse_int=_int, parse_float=_float, parse_constant=_constant
)


def loads(raw: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """Decode UTF-8 JSON strictly; raises JsonRejected naming where the problem is."""
    text = _text(raw)
    bad_before = _Bad.made
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        raise JsonRejected("", f"nested more than {max_depth} levels") from None
    except ValueError as exc:
        raise JsonRejected("", f"not valid JSON: {exc}") from None
    # The exact walk is slow, so it runs only when a cheap, C-speed look finds a reason: a
    # value a hook refused, an escape that may decode to NUL or a surrogate, or deep nesting.
    if _Bad.made != bad_before or _RISKY_ESCAPE.search(text) or _too_deep(text, max_depth):
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
    if isinstance(raw, str):
        try:
            raw.encode("utf-8")
        except UnicodeEncodeError:
            raise JsonRejected("", "not valid UTF-8") from None
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise JsonRejected("", "not valid UTF-8") from None


def check(value: Any, max_depth: int = MAX_DEPTH, path: str = "") -> None:
    """Walk an already decoded value and raise JsonRejected at its first refused part."""
    stack: list[tuple[str, Any, int]] = [(path, value, 0)]
    while stack:
        where, item, depth = stack.pop()
        if isinstance(item, _Bad):
            raise JsonRejected(_short(where), item.reason)
        if isinstance(item, str):
            _check_string(where, item)
        elif isinstance(item, dict | list):
            if depth >= max_depth:
                raise JsonRejected(_short(where), f"nested more than {max_depth} levels")
            stack.extend(_children(where, item, depth + 1))
        elif isinstance(item, float) and not math.isfinite(item):
            raise JsonRejected(_short(where), "number out of range")
        elif isinstance(item, int) and not INT_MIN <= item <= INT_MAX:  # bools are in range
            raise JsonRejected(_short(where), "integer out of range (64-bit signed integers only)")


def _children(where: str, item: dict[str, Any] | list[Any], depth: int) -> list[Any]:
    if isinstance(item, list):
        return [(f"{where}[{i}]", v, depth) for i, v in enumerate(item)]
    out = []
    for key, v in item.items():
        name = _join(where, key)
        _check_string(name, key)
        out.append((name, v, depth))
    return out


def _check_string(where: str, text: str) -> None:
    if "\x00" in text:
        raise JsonRejected(_short(where), "strings must not contain NUL (\\u0000)")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise JsonRejected(_short(where), "strings must not contain lone surrogates") from None


def _join(where: str, key: str) -> str:
    """A path step that is safe to show and log: odd keys are JSON-quoted (ASCII only)."""
    if _SIMPLE_KEY.fullmatch(key):
        return f"{where}.{key}" if where else key
    return f"{where}[{json.dumps(key[:40])}]"


def _short(path: str) -> str:
    return path if len(path) <= _MAX_PATH_CHARS else path[: _MAX_PATH_CHARS - 3] + "..."
