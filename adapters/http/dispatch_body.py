"""The common dispatch body, loaded without marshmallow's generic machinery.

`DispatchRequestSchema.load` costs about 13 us per dispatch, a twentieth of what the whole
request costs in memory mode. Most bodies are plain: a task_id, a work_type, parameters and
perhaps a priority, a timeout, a trace_id and a request_id, all valid. `plain_loader`
compiles, from a schema's own fields, a loader of exactly those bodies: it reads each field's
kind, bounds (the domain's, chiffon.commands), length, pattern, nullability and default from
the schema, so none of them is said a second time here. It gives what the schema would give,
and declines (None) anything else: an unknown field, a field of a kind it does not load
(retry, not_before, on_no_agent), a value of another type, anything out of range. A declined
body goes through the schema, so every error answer is the schema's own, byte for byte
(tests/http/test_dispatch_body.py checks that the two agree on generated bodies).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from math import isfinite
from typing import Any, Final
from uuid import UUID

from marshmallow import Schema, fields, missing, validate

from adapters.http.schemas import DispatchRequestSchema, SafeString, StrictNumber

Load = Callable[[Any], Any]  # a value -> the value loaded, or DECLINE
DECLINE: Final = object()


class NotPlain(TypeError):
    """A schema the fast path cannot follow exactly (hooks, renamed fields)."""


def plain_loader(schema: type[Schema]) -> Callable[[dict[str, Any]], dict[str, Any] | None]:
    """A loader of `schema`'s plain bodies: the dict `schema().load(body)` gives, or None to
    say "let the schema do it" (the body is not plain, or not valid)."""
    if any(schema._hooks.values()):
        raise NotPlain(f"{schema.__name__} has load hooks")
    loaders: dict[str, Load] = {}
    defaults: dict[str, Any] = {}  # every field's default that is a value
    factories: list[tuple[str, Callable[[], Any]]] = []  # ... and those made afresh each time
    required: set[str] = set()
    for name, field in schema._declared_fields.items():
        if field.data_key is not None or field.attribute is not None:
            raise NotPlain(f"{schema.__name__}.{name} is renamed")
        load = _plain_load(field)
        if load is not None:
            loaders[name] = load
        default = field.load_default
        if default is missing:
            if load is None:
                raise NotPlain(f"{schema.__name__}.{name} is required and not plain")
            required.add(name)
        elif callable(default):
            factories.append((name, default))
        else:
            defaults[name] = default
    names, needed = frozenset(loaders), frozenset(required)

    def load_plain(body: dict[str, Any]) -> dict[str, Any] | None:
        keys = body.keys()
        if not keys <= names or not needed <= keys:
            return None
        result = defaults.copy()
        for name, value in body.items():
            value = loaders[name](value)
            if value is DECLINE:
                return None
            result[name] = value
        for name, factory in factories:
            if name not in keys:
                result[name] = factory()
        return result

    return load_plain


def _plain_load(field: fields.Field[Any]) -> Load | None:
    """How the fast path loads `field` (its type, its validators, null), or None if it does
    not: the schema does."""
    known = _validators(field)
    if known is None:
        return None
    bounds, lengths, pattern = known
    nullable = field.allow_none
    kind = type(field)
    if kind is fields.UUID and known == _NONE:
        return _uuid(nullable)
    if kind in (fields.String, SafeString) and bounds is None:
        return _text(nullable, lengths, pattern, utf8=kind is SafeString)
    strict = isinstance(field, fields.Integer) and field.strict
    if kind is fields.Integer and strict and lengths is None and pattern is None:
        return _number(nullable, bounds, integer=True)
    if kind is StrictNumber and lengths is None and pattern is None:
        return _number(nullable, bounds, integer=False)
    if isinstance(field, fields.Dict) and kind is fields.Dict and known == _NONE and not nullable:
        return _object if _plain_keys(field) else None
    return None


Span = tuple[Any, Any, bool, bool]  # a Range: (min, max, min inclusive, max inclusive)
Lengths = tuple[int | None, int | None]
_NONE: Final = (None, None, None)


def _validators(
    field: fields.Field[Any],
) -> tuple[Span | None, Lengths | None, re.Pattern[str] | None] | None:
    """The field's Range, Length and Regexp (at most one of each), or None if it has any
    other validator (the fast path would not know what it checks)."""
    bounds: Span | None = None
    lengths: Lengths | None = None
    pattern: re.Pattern[str] | None = None
    for v in field.validators:
        if type(v) is validate.Range and bounds is None:
            bounds = (v.min, v.max, v.min_inclusive, v.max_inclusive)
        elif type(v) is validate.Length and v.equal is None and lengths is None:
            lengths = (v.min, v.max)
        elif type(v) is validate.Regexp and pattern is None and isinstance(v.regex.pattern, str):
            pattern = v.regex
        else:
            return None
    return bounds, lengths, pattern


def _plain_keys(field: fields.Dict) -> bool:
    keys = field.key_field
    return type(keys) is fields.String and not keys.validators and field.value_field is None


def _uuid(nullable: bool) -> Load:
    def load(value: Any) -> Any:
        if type(value) is not str:
            return None if value is None and nullable else DECLINE
        try:
            return UUID(value)
        except ValueError:
            return DECLINE

    return load


def _text(
    nullable: bool, lengths: Lengths | None, pattern: re.Pattern[str] | None, utf8: bool
) -> Load:
    shortest, longest = lengths or (None, None)

    def load(value: Any) -> Any:
        if type(value) is not str:
            return None if value is None and nullable else DECLINE
        if (shortest is not None and len(value) < shortest) or (
            longest is not None and len(value) > longest
        ):
            return DECLINE
        if pattern is not None and pattern.match(value) is None:
            return DECLINE
        if utf8:  # SafeString's own check: text every store can keep
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return DECLINE
        return value

    return load


def _number(nullable: bool, bounds: Span | None, integer: bool) -> Load:
    low, high, low_in, high_in = bounds or (None, None, True, True)

    def load(value: Any) -> Any:
        kind = type(value)
        if kind is int:  # a bool is not: the schema decides about it
            number = value if integer else _float(value)
        elif kind is float and not integer:
            number = value if isfinite(value) else DECLINE
        else:
            return None if value is None and nullable else DECLINE
        if number is DECLINE:
            return DECLINE
        if low is not None and not (low <= number if low_in else low < number):
            return DECLINE
        if high is not None and not (number <= high if high_in else number < high):
            return DECLINE
        return number

    return load


def _float(value: int) -> Any:
    try:
        return float(value)
    except OverflowError:  # an integer beyond any float
        return DECLINE


def _object(value: Any) -> Any:
    return dict(value) if type(value) is dict else DECLINE  # JSON keys are always strings


load_plain: Final = plain_loader(DispatchRequestSchema)
