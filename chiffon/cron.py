"""Five-field cron expressions and their next fire time in a time zone (ADR 0011).

Parsing and evaluation are cronsim's: a maintained evaluator that follows Debian's (Vixie)
cron, clock changes included. cronsim is pure computation (no I/O), so the domain may use it.
This module adds the `@daily`-style macros, error messages that name the field, answers in
UTC, and a cache of parsed expressions."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Final
from zoneinfo import ZoneInfo

import attrs
from cronsim import CronSim, CronSimError

MACROS: Final = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# Each field: the name cronsim's errors use, ours, and what it takes.
_FIELDS: Final = (
    ("minute", "minute", "0-59"),
    ("hour", "hour", "0-23"),
    ("day-of-month", "day of month", "1-31, or L (the last day), LW (the last weekday)"),
    ("month", "month", "1-12 or jan-dec"),
    ("day-of-week", "day of week", "0-7 or sun-sat (0 and 7: Sunday), fri#2, 5L"),
)
_CHECKED_FROM: Final = datetime(2000, 1, 1)


class CronError(ValueError):
    """An expression that is not a valid five-field cron expression; says which field."""


@attrs.frozen
class Cron:
    """A valid expression: `fields` is what cronsim evaluates (a macro expanded)."""

    expression: str
    fields: str

    def next_after(self, after: datetime, zone: ZoneInfo) -> datetime | None:
        """The first fire time strictly after `after` (aware), in UTC; None if there is none
        within cronsim's horizon (50 years). Wall times are read in `zone`: when clocks
        change, an expression that runs every hour follows elapsed time (a skipped wall time
        does not run, a repeated one runs twice) and any other runs once (at the end of the
        gap, or at the first occurrence)."""
        try:
            at = next(CronSim(self.fields, after.astimezone(zone)))
        except StopIteration:
            return None
        return at.astimezone(UTC)


@functools.lru_cache(maxsize=512)
def parse(expression: str) -> Cron:
    """Parse five fields (minute hour day-of-month month day-of-week) or a macro such as
    @daily; names (jan, mon), ranges, lists and steps are allowed. Raises CronError."""
    text = " ".join(expression.lower().split())
    fields = MACROS.get(text, text)
    parts = fields.split(" ")
    if len(parts) != 5:
        raise CronError(f"needs 5 fields (minute hour day month weekday), got {len(parts)}")
    try:
        CronSim(fields, _CHECKED_FROM)
    except CronSimError as exc:
        raise CronError(_explain(str(exc), parts)) from None
    return Cron(expression=expression.strip(), fields=fields)


def _explain(error: str, parts: list[str]) -> str:
    """cronsim says "Bad minute": name the field, quote it, and say what it takes."""
    for (theirs, ours, takes), part in zip(_FIELDS, parts, strict=True):
        if theirs not in error.lower():
            continue
        if theirs == "day-of-month" and all(_a_day(d) for d in part.split(",")):
            return f"{ours}: {part!r} never comes in month {parts[3]!r}"
        return f"{ours}: {part!r} is not valid (takes {takes}; ranges, lists and steps)"
    return f"not a valid cron expression: {error}"


def _a_day(text: str) -> bool:
    return text.isdigit() and 1 <= int(text) <= 31
