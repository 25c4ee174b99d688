"""Driven adapter: log lines as text for people or JSON for machines."""

from __future__ import annotations

import copy
import json
import logging
import math
import sys
from datetime import UTC, datetime
from typing import Final

from chiffon.visible_text import visible

# Structured fields a log line may carry (chiffon.log_fields, the access log); they are ids,
# names and figures, never a task's values or a token.
EXTRA_FIELDS = (
    "task_id",
    "trace_id",
    "request_id",
    "agent_id",
    "work_type",
    "agent_type",
    "attempt",
    "priority",
    "status",
    "duration_ms",
    "method",
    "route",
    "http_status",
    "worker",
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: exactly the text `json.dumps` gives of {ts, level, logger,
    message, the extra fields given, exc}, written field by field (half the time of building
    the dict and dumping it: every request writes a line, a dispatch two)."""

    def format(self, record: logging.LogRecord) -> str:
        level = _LEVELS.get(record.levelno) or record.levelname.lower()
        parts = [
            '{"ts": "',
            _timestamp(record.created),
            '", "level": ',
            _quote(level),
            ', "logger": ',
            _quote(record.name),
            ', "message": ',
            _quote(record.getMessage()),
        ]
        given = record.__dict__  # the fields `extra` set; a lookup, not a getattr per name
        for name in EXTRA_FIELDS:
            value = given.get(name)
            if value is not None:
                parts.append(_KEYS[name])
                number = isinstance(value, int | float)
                parts.append(_number(value) if number else _quote(str(value)))
        if record.exc_info:
            parts.append(', "exc": ')
            parts.append(_quote(self.formatException(record.exc_info)))
        parts.append("}")
        return "".join(parts)


_quote: Final = json.encoder.encode_basestring_ascii  # a str as json.dumps writes it
_KEYS: Final = {name: f", {_quote(name)}: " for name in EXTRA_FIELDS}


def _number(value: float) -> str:
    if type(value) is int:
        return int.__repr__(value)
    if type(value) is float and value - value == 0.0:  # finite
        return float.__repr__(value)
    return json.dumps(value)  # bool, NaN, int and float subclasses: as json.dumps says


_seconds: list[tuple[float, str]] = [(-1.0, "")]  # the last whole second seen, as ISO text


def _timestamp(created: float) -> str:
    """`datetime.fromtimestamp(created, UTC).isoformat()`, the date and time of day made once
    per second (microseconds rounded half to even, as datetime rounds them)."""
    fraction, whole = math.modf(created)
    micros = round(fraction * 1e6)
    if micros >= 1_000_000:
        whole, micros = whole + 1.0, micros - 1_000_000
    if micros < 0 or whole < 0:  # before 1970: not worth a fast path
        return datetime.fromtimestamp(created, UTC).isoformat()
    second, text = _seconds[0]
    if second != whole:
        text = datetime.fromtimestamp(whole, UTC).isoformat()[:-6]  # less "+00:00"
        _seconds[0] = (whole, text)
    return f"{text}.{micros:06d}+00:00" if micros else f"{text}+00:00"


_LEVELS: dict[int, str] = {
    level: logging.getLevelName(level).lower()
    for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL)
}


class TextFormatter(logging.Formatter):
    """For people: the message, then the structured fields as key=value. Every character that
    could end the line or drive the terminal is written out (chiffon.visible_text): an agent
    type with a newline in it cannot forge a log line."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        safe = copy.copy(record)
        safe.msg, safe.args = visible(record.getMessage()), None
        head, sep, tail = super().format(safe).partition("\n")  # a traceback follows
        fields = [
            f"{name}={visible(str(getattr(record, name)))}"
            for name in EXTRA_FIELDS
            if getattr(record, name, None) is not None
        ]
        if fields:
            head = f"{head} [{' '.join(fields)}]"
        return f"{head}{sep}{visible(tail, lines=True)}"


def configure(fmt: str, level: int = logging.INFO, worker: int | None = None) -> None:
    """Every line on stdout, in one format (JSON: one object per line, nothing else);
    stderr is kept for the one-line refusals of the command line. A worker of
    `serve --workers N` tags its lines with its number."""
    # No line says which file, thread or process wrote it: skip finding them out for every
    # record (the stack walk alone was a fifth of a log call; Python's logging HOWTO,
    # "Optimization").
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    if worker is not None:
        handler.addFilter(_Tag(worker))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


class _Tag(logging.Filter):
    def __init__(self, worker: int) -> None:
        super().__init__()
        self._worker = worker

    def filter(self, record: logging.LogRecord) -> bool:
        record.worker = self._worker
        return True
