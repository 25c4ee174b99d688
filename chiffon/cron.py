"""Five-field cron expressions and their next fire time in a time zone (ADR 0011)."""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import attrs

MACROS: Final = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS: Final = (
    "jan",
    "feb",
    "mar",
    "apr",
    "may",
    "jun",
    "jul",
    "aug",
    "sep",
    "oct",
    "nov",
    "dec",
)
_DAYS: Final = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# (name, lowest, highest, names for lowest onwards)
_FIELDS: Final[tuple[tuple[str, int, int, tuple[str, ...]], ...]] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)
_PART: Final = re.compile(r"^(\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(\d+))?$")
# A date with a match exists within 28 years (the calendar repeats); this bounds the search.
_SEARCH_DAYS: Final = 366 * 28


class CronError(ValueError):
    """An expression that is not a valid five-field cron expression; says which field."""


@attrs.frozen
class Cron:
    """A parsed expression: the allowed values of each field. Day of month and day of week
    follow Vixie cron: when both are restricted, a day matching either one matches."""

    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    days_restricted: bool
    weekdays_restricted: bool

    def matches_day(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        in_days = day.day in self.days
        in_weekdays = (day.isoweekday() % 7) in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return in_days or in_weekdays
        return in_days and in_weekdays

    def next_after(self, after: datetime, zone: ZoneInfo) -> datetime | None:
        """The first fire time strictly after `after` (aware), in UTC; None if none exists.

        Wall times are read in `zone`; when clocks change, Vixie cron's rule applies (see
        `instants`)."""
        # A wall time before `after`'s own, less any offset change around it, is before it.
        offsets = [(after + timedelta(days=d)).astimezone(zone).utcoffset() for d in (-1, 0, 1)]
        change = max(o for o in offsets if o is not None) - min(o for o in offsets if o is not None)
        floor = after.astimezone(zone).replace(tzinfo=None) - change - timedelta(minutes=1)
        start = floor.date()
        for offset in range(_SEARCH_DAYS):
            day = start + timedelta(days=offset)
            if not self.matches_day(day):
                continue
            for hour in sorted(self.hours):
                if datetime.combine(day, time(hour, 59)) < floor:
                    continue
                for minute in sorted(self.minutes):
                    wall = datetime.combine(day, time(hour, minute))
                    if wall < floor:
                        continue
                    for at in instants(wall, zone, every_hour=len(self.hours) == 24):
                        if at > after:
                            return at
        return None


def instants(wall: datetime, zone: ZoneInfo, *, every_hour: bool) -> list[datetime]:
    """The UTC instants at which a naive wall time in `zone` fires, in order.

    As Vixie cron: an expression that runs every hour follows elapsed time (a wall time that
    happens twice when clocks go back fires twice; one skipped when they go forward, never);
    any other fires once: at the first occurrence, or at the end of the gap (so instants never
    go backwards as wall time grows, and a daily 02:30 still runs on the day of the change)."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) != wall:  # in a gap
        return [] if every_hour else [_gap_end(second, first, wall, zone)]
    if second != first and every_hour:
        return [first, second]
    return [first]


def _gap_end(low: datetime, high: datetime, wall: datetime, zone: ZoneInfo) -> datetime:
    """The earliest whole minute in (low, high] whose wall time in `zone` is past `wall`."""
    while high - low > timedelta(minutes=1):
        mid = (low + (high - low) / 2).replace(second=0, microsecond=0)
        if mid.astimezone(zone).replace(tzinfo=None) > wall:
            high = mid
        else:
            low = mid
    return high


@functools.lru_cache(maxsize=512)
def parse(expression: str) -> Cron:
    """Parse five fields (minute hour day-of-month month day-of-week) or a macro such as
    @daily; names (jan, mon), ranges, lists and steps are allowed. Raises CronError."""
    text = " ".join(expression.lower().split())
    fields = MACROS.get(text, text).split(" ")
    if len(fields) != 5:
        raise CronError(f"needs 5 fields (minute hour day month weekday), got {len(fields)}")
    values = [_field(f, *spec) for f, spec in zip(fields, _FIELDS, strict=True)]
    weekdays = frozenset(d % 7 for d in values[4])
    return Cron(
        expression=expression.strip(),
        minutes=values[0],
        hours=values[1],
        days=values[2],
        months=values[3],
        weekdays=weekdays,
        days_restricted=not fields[2].startswith("*"),
        weekdays_restricted=not fields[4].startswith("*"),
    )


def _field(text: str, name: str, low: int, high: int, names: tuple[str, ...]) -> frozenset[int]:
    found: set[int] = set()
    for part in text.split(","):
        match = _PART.match(part)
        if match is None:
            raise CronError(f"{name}: {part!r} is not a value, range, list or step")
        span, step_text = match.groups()
        step = 1 if step_text is None else int(step_text)
        if step < 1:
            raise CronError(f"{name}: a step must be at least 1")
        if span == "*":
            first, last = low, high
        else:
            ends = [_value(v, name, low, high, names) for v in span.split("-")]
            first, last = ends[0], ends[-1] if len(ends) == 2 or step_text is None else high
            if first > last:
                raise CronError(f"{name}: range {span!r} goes backwards")
        found.update(range(first, last + 1, step))
    return frozenset(found)


def _value(text: str, name: str, low: int, high: int, names: tuple[str, ...]) -> int:
    if text in names:
        return low + names.index(text)
    if not text.isdigit() or not low <= int(text) <= high:
        raise CronError(f"{name}: {text!r} is not between {low} and {high}")
    return int(text)
