"""Task metrics from the changes this process announces: a decorator of the Notifier port.

Every accepted change goes through exactly one replica's `publish` (events of other replicas
arrive through `deliver`, not here), so counting here counts each change once cluster-wide."""

from __future__ import annotations

from prometheus_client import Counter

from adapters.http.metrics.registry import ChiffonMetrics
from chiffon.events import Event, TaskChanged
from chiffon.model import ChangeKind
from ports.notifier import Notifier


class MeteredNotifier(Notifier):
    def __init__(self, inner: Notifier, metrics: ChiffonMetrics) -> None:
        self._inner = inner
        self._metrics = metrics
        # Each work type's dispatch counter, looked up once: labels() checks and joins its
        # values and takes a lock every time, and every dispatch counts. Work types are
        # bounded (routes and advertised types), as the metric's own children are.
        self._dispatched: dict[str, Counter] = {}

    async def publish(self, event: Event) -> None:
        if isinstance(event, TaskChanged):
            self._observe(event)
        await self._inner.publish(event)

    async def flush(self) -> None:
        await self._inner.flush()

    def _observe(self, event: TaskChanged) -> None:
        m, task = self._metrics, event.task
        work_type = task.work_type
        if event.change == ChangeKind.DISPATCHED:
            counter = self._dispatched.get(work_type)
            if counter is None:
                counter = self._dispatched[work_type] = m.dispatched.labels(work_type)
            counter.inc()
            return
        started = event.change == ChangeKind.STARTED or event.started
        if started and task.attempt == 1 and task.started_at is not None:
            waited = (task.started_at - task.created_at).total_seconds()
            m.queue_wait.labels(work_type).observe(max(0.0, waited))
        if event.ended:
            m.finished.labels(work_type, task.status.value).inc()
            if task.started_at is not None and task.finished_at is not None:
                ran = (task.finished_at - task.started_at).total_seconds()
                m.run_time.labels(work_type, task.status.value).observe(max(0.0, ran))
