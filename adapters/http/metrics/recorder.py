"""Task metrics from the changes this process announces: a decorator of the Notifier port.

Every accepted change goes through exactly one replica's `publish` (events of other replicas
arrive through `deliver`, not here), so counting here counts each change once cluster-wide."""

from __future__ import annotations

from adapters.http.metrics.registry import ChiffonMetrics
from chiffon.events import Event, TaskUpdated
from chiffon.lifecycle import is_terminal
from chiffon.model import Task, TaskStatus
from ports.notifier import Notifier


class MeteredNotifier(Notifier):
    def __init__(self, inner: Notifier, metrics: ChiffonMetrics) -> None:
        self._inner = inner
        self._metrics = metrics

    async def publish(self, event: Event) -> None:
        if isinstance(event, TaskUpdated):
            self._observe(event.task)
        await self._inner.publish(event)

    async def flush(self) -> None:
        await self._inner.flush()

    def _observe(self, task: Task) -> None:
        m, work_type = self._metrics, task.work_type
        if task.revision == 1:  # a new task's announcement (later pending changes, such as
            m.dispatched.labels(work_type).inc()  # a new waiting reason, are not dispatches)
        elif task.status is TaskStatus.RUNNING and task.started_at == task.updated_at:
            if task.attempt == 1 and task.started_at is not None:  # a start, not progress
                waited = (task.started_at - task.created_at).total_seconds()
                m.queue_wait.labels(work_type).observe(max(0.0, waited))
        elif is_terminal(task.status):
            m.finished.labels(work_type, task.status.value).inc()
            if task.started_at is not None and task.finished_at is not None:
                ran = (task.finished_at - task.started_at).total_seconds()
                m.run_time.labels(work_type, task.status.value).observe(max(0.0, ran))
