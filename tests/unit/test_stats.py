"""The stats' pure parts: the span's alignment and limits, queue depth walked back from now."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chiffon.errors import InvalidRequest
from chiffon.model import TaskStatus
from chiffon.stats import Activity, Span, build_stats, percentile

NOW = datetime(2026, 12, 4, 17, 42, 30, tzinfo=UTC)


def test_a_span_ends_after_now_on_a_multiple_of_its_step() -> None:
    span = Span.ending_at(NOW, 600, 60)
    assert span.end == datetime(2026, 12, 4, 17, 43, tzinfo=UTC)
    assert span.start == datetime(2026, 12, 4, 17, 33, tzinfo=UTC) and span.intervals == 10
    with pytest.raises(InvalidRequest) as refused:
        Span.ending_at(NOW, 3600, 1)
    assert "500 intervals" in str(refused.value.details)


def test_queue_depth_walks_back_from_the_pending_now() -> None:
    span = Span.ending_at(NOW, 240, 60)  # 4 intervals
    activity = Activity(
        arrivals={("infra", 0): 3, ("infra", 2): 2, ("demo", 1): 1},
        departures={("infra", 1): 2, ("demo", 1): 1},
        finished={(TaskStatus.COMPLETED, 1): 1, (TaskStatus.CANCELLED, 1): 2},
        run_time_ms={1: (10.0, 19.0)},
        pending_now={"infra": 3},
    )
    stats = build_stats(span, activity)
    assert stats.queue_depth == {"demo": (0, 0, 0, 0), "infra": (3, 1, 3, 3)}
    assert [i.dispatched for i in stats.intervals] == [3, 1, 2, 0]
    second = stats.intervals[1]
    assert (second.completed, second.cancelled, second.p50_ms, second.p95_ms) == (1, 2, 10, 19)
    assert stats.intervals[0].p50_ms is None


def test_percentile_interpolates_like_percentile_cont() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert percentile(values, 0.5) == 25.0
    assert percentile(values, 0.95) == pytest.approx(38.5)
    assert percentile([7.0], 0.95) == 7.0
