"""Five-field cron: parsing, next fire times, and clock changes in the schedule's zone."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from chiffon.cron import CronError, parse

PARIS = ZoneInfo("Europe/Paris")


def fires(expr: str, after: datetime, count: int, zone: ZoneInfo = PARIS) -> list[str]:
    cron, found = parse(expr), []
    at: datetime | None = after
    for _ in range(count):
        at = cron.next_after(at, zone) if at else None
        assert at is not None
        found.append(at.astimezone(zone).isoformat())
    return found


def test_every_fifteen_minutes_in_utc() -> None:
    after = datetime(2026, 1, 1, 10, 7, 30, tzinfo=UTC)
    assert fires("*/15 * * * *", after, 3, ZoneInfo("UTC")) == [
        "2026-01-01T10:15:00+00:00",
        "2026-01-01T10:30:00+00:00",
        "2026-01-01T10:45:00+00:00",
    ]


def test_next_is_strictly_after() -> None:
    after = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)  # 10:00 in Paris, a match itself
    assert fires("0 10 * * *", after, 1) == ["2026-01-02T10:00:00+01:00"]


def test_names_ranges_steps_and_lists() -> None:
    # 9:05, 9:10 ... 17:59 on weekdays of January and July.
    after = datetime(2026, 1, 2, 16, 56, tzinfo=UTC)  # a Friday, 17:56 in Paris
    assert fires("5-20/5,59 9-17 * jan,jul mon-fri", after, 3) == [
        "2026-01-02T17:59:00+01:00",
        "2026-01-05T09:05:00+01:00",
        "2026-01-05T09:10:00+01:00",
    ]


def test_sunday_is_zero_or_seven_and_macros_expand() -> None:
    after = datetime(2026, 1, 1, tzinfo=UTC)  # a Thursday
    assert fires("0 0 * * 7", after, 1) == fires("0 0 * * 0", after, 1)
    assert fires("@weekly", after, 2) == fires("0 0 * * 0", after, 2)
    assert parse("@daily").fields == "0 0 * * *"


def test_the_last_day_of_the_month_and_the_nth_weekday() -> None:
    after = datetime(2026, 1, 1, tzinfo=UTC)
    assert fires("0 9 L * *", after, 2) == [
        "2026-01-31T09:00:00+01:00",
        "2026-02-28T09:00:00+01:00",
    ]
    assert fires("0 9 * * mon#2", after, 1) == ["2026-01-12T09:00:00+01:00"]


def test_a_date_that_never_comes_is_refused() -> None:
    with pytest.raises(CronError, match="day of month: '30,31' never comes in month '2'"):
        parse("0 0 30,31 2 *")


def test_day_of_month_or_day_of_week_when_both_are_restricted() -> None:
    # Vixie cron: the 13th OR a Friday.
    after = datetime(2026, 2, 1, tzinfo=UTC)
    assert fires("0 12 13 * fri", after, 3) == [
        "2026-02-06T12:00:00+01:00",
        "2026-02-13T12:00:00+01:00",
        "2026-02-20T12:00:00+01:00",
    ]


def test_rare_dates_are_found() -> None:
    after = datetime(2026, 3, 1, tzinfo=UTC)
    assert fires("0 0 29 2 *", after, 1) == ["2028-02-29T00:00:00+01:00"]


def test_a_daily_time_skipped_by_spring_forward_runs_when_the_gap_ends() -> None:
    # 2026-03-29: Paris goes from 02:00 to 03:00; 02:30 does not exist that day.
    after = datetime(2026, 3, 28, 12, tzinfo=UTC)
    assert fires("30 2 * * *", after, 2) == [
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:30:00+02:00",
    ]


def test_a_daily_time_repeated_by_fall_back_runs_once() -> None:
    # 2026-10-25: Paris goes from 03:00 back to 02:00; 02:30 happens twice.
    after = datetime(2026, 10, 24, 12, tzinfo=UTC)
    assert fires("30 2 * * *", after, 2) == [
        "2026-10-25T02:30:00+02:00",
        "2026-10-26T02:30:00+01:00",
    ]


def test_an_hourly_schedule_follows_elapsed_time_across_both_changes() -> None:
    spring = fires("30 * * * *", datetime(2026, 3, 29, 0, tzinfo=UTC), 2)
    assert spring == ["2026-03-29T01:30:00+01:00", "2026-03-29T03:30:00+02:00"]
    fall = fires("30 * * * *", datetime(2026, 10, 24, 23, tzinfo=UTC), 3)
    assert fall == [
        "2026-10-25T01:30:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:30:00+01:00",
    ]


@pytest.mark.parametrize(
    ("expr", "says"),
    [
        ("* * * *", "needs 5 fields"),
        ("60 * * * *", "minute: '60' is not valid (takes 0-59"),
        ("* 24 * * *", "hour: '24'"),
        ("* * 0 * *", "day of month: '0'"),
        ("* * * 13 *", "month: '13'"),
        ("* * * * 8", "day of week: '8'"),
        ("*/0 * * * *", "minute: '*/0'"),
        ("5-1 * * * *", "minute: '5-1'"),
        ("0 0 15W * *", "day of month: '15w'"),
        ("0 0 ? * *", "day of month: '?'"),
        ("@every_5m", "needs 5 fields"),
        ("0 0 0 * * *", "needs 5 fields"),
    ],
)
def test_invalid_expressions_say_which_field(expr: str, says: str) -> None:
    with pytest.raises(CronError) as caught:
        parse(expr)
    assert says in str(caught.value)
