"""The one strict JSON decoder: what it refuses, where it says the problem is, what it keeps."""

from __future__ import annotations

import gc
import json

import pytest

from adapters.codec import MalformedMessage, decode_events, decode_message
from adapters.codec.strict_json import MAX_DEPTH, JsonRejected, loads
from chiffon.json_values import INT_MAX as INT64_MAX
from chiffon.json_values import same_json


def nested(depth: int) -> str:
    """A document whose outer object is level 1 and holds `depth - 1` nested arrays."""
    return '{"d": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


def depth(value: object) -> int:
    levels = 0
    while isinstance(value, dict | list):
        levels += 1
        value = value["d"] if isinstance(value, dict) else (value[0] if value else None)
    return levels


@pytest.mark.parametrize(
    ("text", "path", "reason"),
    [
        ('{"a": NaN}', "a", "NaN is not JSON"),
        ('{"a": {"b": [1, 2, Infinity]}}', "a.b[2]", "Infinity is not JSON"),
        ('{"a": -Infinity}', "a", "-Infinity is not JSON"),
        ('{"a": 1e400}', "a", "number out of range"),
        ('{"x": "\\u0000"}', "x", "NUL"),
        ('{"x": ["ok", "\\ud800"]}', "x[1]", "lone surrogates"),
        ('{"x": "\\udc00 trailing"}', "x", "lone surrogates"),
        ('{"a": 1, "a": 2}', "", "duplicate key 'a'"),
        ('{"p": {"q": 1, "q": 2}}', "p", "duplicate key 'q'"),
        ('{"n": ' + "9" * 5000 + "}", "n", "integer out of range"),
        ('{"n": 9223372036854775808}', "n", "integer out of range"),
        ('{"n": -9223372036854775809}', "n", "integer out of range"),
        ('{"\\u0000k": 1}', '["\\u0000k"]', "NUL"),
    ],
)
def test_refused_values_are_named_by_their_path(text: str, path: str, reason: str) -> None:
    with pytest.raises(JsonRejected) as caught:
        loads(text)
    assert caught.value.path == path
    assert reason in caught.value.reason


def test_depth_is_limited_and_the_limit_itself_is_accepted() -> None:
    assert depth(loads(nested(MAX_DEPTH))) == MAX_DEPTH
    with pytest.raises(JsonRejected, match=f"nested more than {MAX_DEPTH} levels") as caught:
        loads(nested(MAX_DEPTH + 1))
    assert caught.value.field == "d"
    assert len(str(caught.value)) < 300  # the path is shortened, not 65 "[0]"s and more


def test_nesting_past_the_recursion_limit_is_a_rejection_not_a_crash() -> None:
    with pytest.raises(JsonRejected, match="nested more than"):
        loads("[" * 200_000 + "]" * 200_000)


def test_brackets_inside_strings_do_not_count_as_depth() -> None:
    text = json.dumps({"s": "[" * 500, "t": ["{" * 100]})
    assert loads(text) == {"s": "[" * 500, "t": ["{" * 100]}


@pytest.mark.parametrize("raw", [b"\xff\xfe{}", b'{"a": "\xed\xa0\x80"}', "{}\ud800"])
def test_only_utf8_is_accepted(raw: bytes | str) -> None:
    with pytest.raises(JsonRejected, match="UTF-8"):
        loads(raw)


def test_what_is_valid_passes_unchanged() -> None:
    doc = {
        "int": -9223372036854775808,
        "max": 9223372036854775807,
        "float": 2.5,
        "text": "é中😀",
        "escaped": "\\u0000 is only text here",
        "list": [True, False, None, {"k": []}],
    }
    assert loads(json.dumps(doc)) == doc  # ensure_ascii: every non-ASCII char as \\u escapes
    assert loads(json.dumps(doc, ensure_ascii=False).encode()) == doc


def test_bus_messages_go_through_the_same_decoder() -> None:
    body = (
        b'{"protocol_version": "1.0", "type": "work_result", "payload": {"task_id": '
        b'"6f1c1f9e-8a55-4b34-9a55-2f3e1b5a0c11", "result": {"x": NaN}}}'
    )
    with pytest.raises(MalformedMessage, match="NaN is not JSON"):
        decode_message(body)
    with pytest.raises(MalformedMessage):
        decode_events(b'{"events": [{"event": "task.updated", "data": {"a": 1, "a": 2}}]}')
    with pytest.raises(MalformedMessage):
        decode_events(b"[1, 2]")  # not an object: refused, not an AttributeError


def test_same_json_tells_booleans_from_numbers() -> None:
    assert not same_json({"x": 1}, {"x": True})
    assert not same_json({"x": 0}, {"x": False})
    assert same_json({"x": 1}, {"x": 1.0})
    assert same_json({"a": [1, {"b": None}]}, {"a": [1, {"b": None}]})
    assert not same_json({"a": [1, 2]}, {"a": [2, 1]})
    assert not same_json({"a": "1"}, {"a": 1})
    assert not same_json({"a": None}, {})


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('["\\\\u0000"]', ["\\u0000"]),  # an escaped backslash, then plain text
        ('["\\\\\\\\u0000"]', ["\\\\u0000"]),
        ('["\\ud83d\\ude00"]', ["😀"]),  # a valid pair of surrogate escapes
        (
            "[9223372036854775807, 1e308, 123456789012345678901.5]",
            [INT64_MAX, 1e308, 1.2345678901234568e20],
        ),
        ('["9223372036854775808"]', ["9223372036854775808"]),  # long digits in a string
    ],
)
def test_what_looks_risky_to_the_cheap_screen_but_is_valid_passes(text: str, value: object) -> None:
    assert loads(text) == value


@pytest.mark.parametrize(
    ("text", "path"),
    [('["a", "\\\\\\u0000"]', "[1]"), ('{"k": ["\\\\\\\\\\ud800"]}', "k[0]")],
)
def test_an_escape_after_an_odd_run_of_backslashes_is_still_refused(text: str, path: str) -> None:
    with pytest.raises(JsonRejected) as caught:
        loads(text)
    assert caught.value.path == path


def test_the_garbage_collector_is_running_again_after_any_decode() -> None:
    assert gc.isenabled()
    with pytest.raises(JsonRejected):
        loads("[" * 200_000 + "]" * 200_000)
    loads('{"a": [1, 2]}')
    assert gc.isenabled()


@pytest.mark.parametrize("shape", ["[]", "{}"])
def test_depth_of_many_siblings_is_judged_in_one_pass(shape: str) -> None:
    wide = "[" + ",".join([shape] * 50_000) + "]"  # 100,000 brackets, two levels deep
    assert len(loads(wide)) == 50_000
    deep = "[" + ",".join([nested(MAX_DEPTH - 1)] * 1000) + "," + nested(MAX_DEPTH) + "]"
    with pytest.raises(JsonRejected, match="nested more than") as caught:
        loads(deep)
    assert caught.value.path.startswith("[1000]")
