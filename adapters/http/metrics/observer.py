"""The ledger's observer: changes that did not apply, counted by kind."""

from __future__ import annotations

from adapters.http.metrics.registry import ChiffonMetrics
from ports.observer import ChangeObserver


class MetricsObserver(ChangeObserver):
    def __init__(self, metrics: ChiffonMetrics) -> None:
        self._metrics = metrics

    def ignored(self, kind: str) -> None:
        self._metrics.ignored.labels(kind).inc()

    def refused(self, report: str) -> None:
        self._metrics.refused.labels(report).inc()
