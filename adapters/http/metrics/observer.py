"""The ledger's observer: changes that did not apply, counted by kind."""

from __future__ import annotations

from adapters.http.metrics.registry import ChiffonMetrics
from ports.observer import ChangeObserver


class MetricsObserver(ChangeObserver):
    def __init__(self, metrics: ChiffonMetrics) -> None:
        self._metrics = metrics

    def ignored(self, kind: str) -> None:
        self._metrics.ignored.labels(kind).inc()

    def report_refused(self, report: str) -> None:
        self._metrics.report_refused.labels(report).inc()

    def refused(self, reason: str) -> None:
        self._metrics.refused.labels(reason).inc()
