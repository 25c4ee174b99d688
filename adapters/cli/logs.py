"""Driven adapter: log lines as text for people or JSON for machines."""

from __future__ import annotations

import copy
import json
import logging
import sys
from datetime import UTC, datetime

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
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": _LEVELS.get(record.levelno) or record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        given = record.__dict__  # the fields `extra` set; a lookup, not a getattr per name
        for name in EXTRA_FIELDS:
            value = given.get(name)
            if value is not None:
                line[name] = value if isinstance(value, int | float) else str(value)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line)


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
