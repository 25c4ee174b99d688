"""The scheduler's observer: fires, skipped times and lag, as Prometheus metrics."""

from __future__ import annotations

from adapters.http.metrics.registry import ChiffonMetrics
from ports.schedule_observer import ScheduleObserver


class MetricsScheduleObserver(ScheduleObserver):
    def __init__(self, metrics: ChiffonMetrics) -> None:
        self._metrics = metrics

    def fired(self, work_type: str, lag_s: float) -> None:
        self._metrics.schedule_fires.labels(work_type).inc()
        self._metrics.schedule_lag.labels(work_type).observe(max(0.0, lag_s))

    def skipped(self, work_type: str, reason: str) -> None:
        self._metrics.schedule_skipped.labels(work_type, reason).inc()
