"""The plain dispatch body's fast loader agrees with DispatchRequestSchema on every body it
takes, and takes none the schema refuses (so every error answer stays the schema's)."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import Schema, ValidationError, fields, pre_load, validate

from adapters.http.dispatch_body import NotPlain, load_plain, plain_loader
from adapters.http.schemas import DispatchRequestSchema, SafeString, StrictSchema
from chiffon.config import MAX_TIMEOUT_S

SCHEMA = DispatchRequestSchema()

uuids = (
    st.uuids().map(str)
    | st.uuids().map(lambda u: str(u).upper())
    | st.uuids().map(lambda u: "{" + str(u) + "}")
)
not_uuids = st.text(max_size=40) | st.integers() | st.none() | st.booleans()
json_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
numbers = (
    st.integers(-5, 10)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([0, 0.0, 1e-9, MAX_TIMEOUT_S, MAX_TIMEOUT_S + 1, 2**70])
)
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "task_id": uuids | not_uuids,
    "work_type": st.text(max_size=5)
    | st.sampled_from(["echo", "", "x" * 200, "x" * 201, "a\x00b", "tab\there", "é", "\ud800"])
    | st.integers()
    | st.none(),
    "parameters": st.dictionaries(st.text(max_size=5), json_values, max_size=4) | json_values,
    "priority": numbers | st.booleans() | st.none() | st.text(max_size=3),
    "timeout_s": numbers | st.booleans() | st.none() | st.text(max_size=3),
    "trace_id": uuids | not_uuids,
    "request_id": uuids | not_uuids,
    "retry": st.just({"max_attempts": 2}),
    "delay_s": st.just(5),
    "unknown": st.just(1),
}
REST = {k: v for k, v in FIELDS.items() if k not in ("task_id", "work_type")}
bodies = st.fixed_dictionaries(  # mostly plain and valid, so both paths are exercised
    {"task_id": uuids, "work_type": st.sampled_from(["echo", "sleep", "x" * 200])},
    optional={k: v for k, v in REST.items() if k not in ("retry", "delay_s", "unknown")},
) | st.fixed_dictionaries({}, optional=FIELDS)


# A few hundred bodies between edits; the test command (scripts/test, CI) searches 3,000.
EXAMPLES = 3000 if os.environ.get("CHIFFON_TEST_THOROUGH") else 200


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies)
def test_the_fast_loader_agrees_with_the_schema(body: dict[str, Any]) -> None:
    fast = load_plain(body)
    try:
        loaded = SCHEMA.load(body)
    except ValidationError:
        assert fast is None  # refused by the schema: the schema answers
        return
    if fast is not None:
        assert fast == loaded
        assert list(fast["parameters"]) == list(loaded["parameters"])  # same key order


def test_a_plain_body_takes_the_fast_path() -> None:
    body = {
        "task_id": str(uuid.uuid4()),
        "work_type": "echo",
        "parameters": {"n": 1, "nested": {"a": [1, 2]}},
        "priority": 5,
        "timeout_s": 30,
        "trace_id": str(uuid.uuid4()),
    }
    fast = load_plain(body)
    assert fast is not None and fast == SCHEMA.load(body)
    assert fast["parameters"] is not body["parameters"]  # a copy, as the schema makes


class Made(StrictSchema):
    name = SafeString(required=True)
    n = fields.Integer(strict=True, load_default=2, validate=validate.Range(1, 3))
    tags = fields.Dict(keys=fields.String(), load_default=dict)
    when = fields.AwareDateTime(load_default=None, allow_none=True)


def test_the_loader_is_read_from_the_schema_s_own_fields() -> None:
    load = plain_loader(Made)
    assert load({"name": "a"}) == {"name": "a", "n": 2, "tags": {}, "when": None}
    assert load({"name": "a", "n": 3}) == Made().load({"name": "a", "n": 3})
    assert load({"name": "a", "n": 4}) is None  # out of the Range: the schema answers
    assert load({"name": "a\x00"}) is None  # SafeString's pattern
    assert load({"name": "a", "when": "2027-01-01T00:00:00+00:00"}) is None  # not plain
    assert load({"n": 1}) is None  # a required field is missing


def test_a_schema_the_loader_cannot_follow_exactly_is_refused() -> None:
    class Hooked(Schema):
        name = fields.String()

        @pre_load
        def trim(self, data: Any, **_: Any) -> Any:
            return data

    class Renamed(Schema):
        name = fields.String(data_key="Name")

    class NeedsWhen(Schema):
        when = fields.AwareDateTime(required=True)

    for schema in (Hooked, Renamed, NeedsWhen):
        with pytest.raises(NotPlain):
            plain_loader(schema)
