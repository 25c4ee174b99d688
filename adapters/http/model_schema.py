"""An answer's marshmallow schema derived from the domain model's attrs class: each field's
name, type, nullability and allowed values come from the model, so the HTTP shape of a task
is said once (in chiffon/model.py) and the OpenAPI document follows it. Only the wording of
the documentation is added here."""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from typing import Any
from uuid import UUID

import attrs
from marshmallow import Schema, fields, validate

_SCALARS: Mapping[Any, type[fields.Field[Any]]] = {
    UUID: fields.UUID,
    str: fields.String,
    int: fields.Integer,
    float: fields.Float,
    bool: fields.Boolean,
    datetime: fields.DateTime,
}


def model_schema(
    model: type[Any], descriptions: Mapping[str, str], name: str | None = None
) -> type[Schema]:
    """A schema with one field per attrs field of `model`, in its order (the order of the
    JSON the codec writes). `descriptions` documents some of them (and may name no other)."""
    unknown = set(descriptions) - {f.name for f in attrs.fields(model)}
    if unknown:
        raise ValueError(f"descriptions of fields {model.__name__} does not have: {unknown}")
    hints = typing.get_type_hints(model)
    declared = {
        f.name: answer_field(hints[f.name], descriptions.get(f.name)) for f in attrs.fields(model)
    }
    return Schema.from_dict(declared, name=name or f"{model.__name__}Schema")


def answer_field(hint: Any, description: str | None = None) -> fields.Field[Any]:
    """The marshmallow field that documents a value of type `hint` (X | None: nullable)."""
    metadata = {"description": description} if description else {}
    if hint is Any:  # any JSON value, null included
        return fields.Raw(allow_none=True, metadata=metadata)
    args = typing.get_args(hint)
    nullable = typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args
    if nullable:
        [hint] = [a for a in args if a is not type(None)]
    return _field(hint, allow_none=nullable, metadata=metadata)


def _field(hint: Any, **options: Any) -> fields.Field[Any]:
    origin = typing.get_origin(hint)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return fields.String(validate=validate.OneOf([m.value for m in hint]), **options)
    if hint in _SCALARS:
        return _SCALARS[hint](**options)
    if origin is tuple or origin is list:
        item, *rest = typing.get_args(hint)
        if rest not in ([], [Ellipsis]):
            raise TypeError(f"no HTTP shape for a fixed-length {hint}")
        return fields.List(_field(item), **options)
    if origin is dict or hint is dict:
        return fields.Dict(**options)
    raise TypeError(f"no HTTP shape for {hint!r}: map it in adapters/http/model_schema.py")
