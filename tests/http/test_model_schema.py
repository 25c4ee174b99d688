"""The task's HTTP shape is derived from the model: a field added to an attrs class appears
in its schema with its type, nullability and allowed values; a type with no HTTP shape is
refused when the schema is built, not discovered by a client."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

import attrs
import pytest
from marshmallow import fields

from adapters.http.model_schema import model_schema
from adapters.http.schemas import TASK_DESCRIPTIONS, TaskSchema
from chiffon.model import Task


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


@attrs.frozen
class Thing:
    thing_id: UUID
    colour: Colour
    tags: tuple[Colour, ...]
    seen_at: datetime | None
    data: dict[str, Any]
    extra: Any = None


def test_each_model_field_becomes_a_schema_field_of_its_type() -> None:
    schema = model_schema(Thing, {"extra": "Anything."})
    declared = schema._declared_fields
    assert list(declared) == ["thing_id", "colour", "tags", "seen_at", "data", "extra"]
    assert isinstance(declared["thing_id"], fields.UUID)
    assert declared["colour"].validators[0].choices == ["red", "blue"]  # type: ignore[attr-defined]
    assert isinstance(declared["tags"], fields.List)
    assert isinstance(declared["seen_at"], fields.DateTime) and declared["seen_at"].allow_none
    assert not declared["thing_id"].allow_none
    assert isinstance(declared["data"], fields.Dict)
    assert declared["extra"].metadata == {"description": "Anything."}


def test_a_type_without_an_http_shape_or_an_unknown_description_is_refused() -> None:
    @attrs.frozen
    class Odd:
        pair: tuple[int, str]

    with pytest.raises(TypeError, match="fixed-length"):
        model_schema(Odd, {})
    with pytest.raises(ValueError, match="nope"):
        model_schema(Thing, {"nope": "?"})


def test_the_task_schema_is_the_model_s_fields_in_the_model_s_order() -> None:
    assert list(TaskSchema._declared_fields) == [f.name for f in attrs.fields(Task)]
    assert set(TASK_DESCRIPTIONS) <= set(TaskSchema._declared_fields)
    assert all(field.required for field in TaskSchema._declared_fields.values())
