"""The JSON log line is written field by field: it must be, byte for byte, what `json.dumps`
gives of the same fields (the form the line had when it was built as a dict)."""

from __future__ import annotations

import enum
import json
import logging
import math
import random
import sys
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.cli.logs import EXTRA_FIELDS, JsonFormatter


def _reference(record: logging.LogRecord, formatter: logging.Formatter) -> str:
    line: dict[str, object] = {
        "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
        "level": record.levelname.lower(),
        "logger": record.name,
        "message": record.getMessage(),
    }
    for name in EXTRA_FIELDS:
        value = record.__dict__.get(name)
        if value is not None:
            line[name] = value if isinstance(value, int | float) else str(value)
    if record.exc_info:
        line["exc"] = formatter.formatException(record.exc_info)
    return json.dumps(line)


class Kind(enum.IntEnum):
    ONE = 1


ODD_VALUES: list[Any] = [
    "plain",
    'é \u2028 \x00 \x1b[2J \ud800 "quoted" \\ back',
    0,
    -7,
    2**70,
    True,
    False,
    0.35,
    1e-7,
    1e300,
    math.nan,
    math.inf,
    -math.inf,
    Kind.ONE,
    b"bytes",
    ("a", 1),
]


def _record(created: float, extra: dict[str, Any], exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom \u00e9")
        except ValueError:
            exc_info = sys.exc_info()
    record = logging.LogRecord(
        "chiffon.access", logging.WARNING, "", 0, "%s é %d", ("POST", 3), exc_info
    )
    record.created = created
    record.__dict__.update(extra)
    return record


@pytest.mark.parametrize(
    "created",
    [
        1_796_428_800.0,  # a whole second: isoformat writes no fraction
        1_796_428_800.5,
        1_796_428_800.9999996,  # rounds up into the next second
        1_796_428_800.0000004,  # rounds down to the whole second
        1_796_428_800.1234565,  # half way, as a double falls
        86_399.999_999_5,
    ],
)
def test_the_time_is_written_as_datetime_writes_it(created: float) -> None:
    formatter = JsonFormatter()
    record = _record(created, {})
    assert formatter.format(record) == _reference(record, formatter)


def test_every_field_and_value_is_written_as_json_dumps_writes_it() -> None:
    formatter = JsonFormatter()
    rng = random.Random(21)
    for n in range(2000):
        created = rng.uniform(0, 4e9) if n % 3 else round(rng.uniform(0, 4e9), rng.randint(0, 7))
        names = rng.sample(EXTRA_FIELDS, rng.randint(0, len(EXTRA_FIELDS)))
        extra = {name: rng.choice([*ODD_VALUES, None]) for name in names}
        record = _record(created, extra, exc=n % 50 == 0)
        text = formatter.format(record)
        assert text == _reference(record, formatter)
        json.loads(text)  # and it is one JSON object


def test_the_same_second_twice_and_back_again() -> None:
    formatter = JsonFormatter()
    for created in (1000.25, 1000.75, 999.5, 1000.0, 2000.000001):
        record = _record(created, {"task_id": "t"})
        assert formatter.format(record) == _reference(record, formatter)
