"""JSON values as chiffon accepts them: the documented limits, checked by one walk, and
equality as JSON sees it. Pure: the strict decoder (adapters.codec) and the agent runtime
(handler results) both apply these rules."""

from __future__ import annotations

import enum
import json
import math
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Final

MAX_DEPTH: Final = 64
INT_MIN: Final = -(2**63)
INT_MAX: Final = 2**63 - 1
_MAX_PATH_CHARS: Final = 120
_SIMPLE_KEY: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
_UNSAFE_TEXT: Final = re.compile("[\x00\ud800-\udfff]")


class JsonRejected(ValueError):
    """A JSON value chiffon does not accept; `path` locates it ("" for the document)."""

    def __init__(self, path: str, reason: str) -> None:
        path = path if len(path) <= _MAX_PATH_CHARS else path[: _MAX_PATH_CHARS - 3] + "..."
        super().__init__(f"{path}: {reason}" if path else reason)
        self.path = path
        self.reason = reason

    @property
    def field(self) -> str:
        """The top-level member the problem is in ("body" when it is the document itself)."""
        head = self.path.split(".", 1)[0].split("[", 1)[0]
        return head or "body"


class Refused:
    """Stands in for a literal a decoder refused, so `check` can say where it was."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def check(value: Any, max_depth: int = MAX_DEPTH, path: str = "") -> None:
    """Raise JsonRejected at the first part of `value` (in document order) that breaks a limit:
    nesting deeper than `max_depth`, NaN or Infinity, an integer outside 64 bits, NUL or a lone
    surrogate in a string or key, or anything that is not a JSON value at all. One pass, and
    the path is built only for the part refused: every dispatch is walked, so it must be cheap."""
    try:
        found = _find(value, max_depth)
    except _BadKey as bad:
        found = bad.trail, bad.reason
    if found is not None:
        trail, reason = found
        where = path
        for step in trail:
            where = f"{where}[{step}]" if isinstance(step, int) else _join(where, step)
        raise JsonRejected(where, reason)


_Trail = list[str | int]  # the keys and indexes from the document down to a value


def _find(value: Any, max_depth: int) -> tuple[_Trail, str] | None:
    if not isinstance(value, dict | list):
        reason = _scalar_problem(value)
        return None if reason is None else ([], reason)
    if max_depth < 1:
        return [], f"nested more than {max_depth} levels"
    trail: _Trail = []
    stack = [_members(value, trail)]
    while stack:
        for step, item in stack[-1]:
            if isinstance(item, dict | list):
                trail.append(step)
                if len(stack) >= max_depth:
                    return trail, f"nested more than {max_depth} levels"
                stack.append(_members(item, trail))
                break
            reason = _scalar_problem(item)
            if reason is not None:
                return [*trail, step], reason
        else:
            stack.pop()
            if trail:
                trail.pop()
    return None


def _members(item: dict[Any, Any] | list[Any], trail: _Trail) -> Iterator[tuple[Any, Any]]:
    """(key or index, value) pairs; an object's keys are checked first, as a bad key is."""
    if isinstance(item, list):
        return enumerate(item)
    for key in item:
        reason = _key_problem(key)
        if reason is not None:
            raise _BadKey([*trail, key] if isinstance(key, str) else list(trail), reason)
    return iter(item.items())


class _BadKey(Exception):
    def __init__(self, trail: _Trail, reason: str) -> None:
        self.trail, self.reason = trail, reason


def _key_problem(key: object) -> str | None:
    if not isinstance(key, str):
        return f"object keys must be strings, not {type(key).__name__}"
    return _text_problem(key)


def _scalar_problem(item: object) -> str | None:
    if isinstance(item, str):
        return _text_problem(item)
    if item is None or isinstance(item, bool):
        return None
    if isinstance(item, int):
        ok = INT_MIN <= item <= INT_MAX
        return None if ok else "integer out of range (64-bit signed integers only)"
    if isinstance(item, float):
        return None if math.isfinite(item) else "number out of range"
    if isinstance(item, Refused):
        return item.reason
    return f"{type(item).__name__} is not a JSON value"


def _text_problem(text: str) -> str | None:
    unsafe = _UNSAFE_TEXT.search(text)
    if unsafe is None:
        return None
    if unsafe.group() == "\x00":
        return "strings must not contain NUL (\\u0000)"
    return "strings must not contain lone surrogates"


def _join(where: str, key: str) -> str:
    """A path step that is safe to show and log: odd keys are JSON-quoted (ASCII only)."""
    if _SIMPLE_KEY.fullmatch(key):
        return f"{where}.{key}" if where else key
    return f"{where}[{json.dumps(key[:40])}]"


def clean_text(text: str) -> str:
    """`text` with NUL and lone surrogates replaced by U+FFFD: output a handler wrote is kept
    as well as it can be, rather than refused."""
    return _UNSAFE_TEXT.sub("\ufffd", text) if _UNSAFE_TEXT.search(text) else text


def same_json(a: Any, b: Any) -> bool:
    """Equal as JSON values: booleans are not numbers, numbers compare by value (1 == 1.0, as
    a store may normalise them), objects ignore key order, arrays do not."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(v, b[k]) for k, v in a.items())
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


_PLAIN: Final = frozenset({str, int, float, bool, dict, list})


def to_json_value(value: Any) -> Any:
    """A domain value as JSON shows it (the API's own format: UUIDs as text, timestamps in
    UTC with an offset, enums by value); JSON values pass through."""
    kind = type(value)
    if value is None or kind in _PLAIN:  # most fields of most changes: checked first
        return value
    if kind is uuid.UUID:  # then the commonest others, by exact type (neither is an enum)
        return str(value)
    if kind is datetime:
        return value.astimezone(UTC).isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, tuple):
        return [to_json_value(v) for v in value]
    return value


def json_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Each field as `to_json_value` gives it."""
    return _converted(dict(fields))


def json_fields_of(names: Iterable[str], values: Iterable[Any]) -> dict[str, Any]:
    """`json_fields(dict(zip(names, values)))` without the dict in between."""
    return _converted(dict(zip(names, values, strict=True)))


def _converted(out: dict[str, Any]) -> dict[str, Any]:
    for name, value in out.items():  # most are None or plain: no call for those
        if value is not None and type(value) not in _PLAIN:
            out[name] = to_json_value(value)  # a key kept, not added: iterating stays safe
    return out
