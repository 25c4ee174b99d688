"""Task metrics counted from the kind of change each event carries, not guessed from the
task's fields."""

from __future__ import annotations

from datetime import timedelta

import attrs

from adapters.http.metrics.recorder import MeteredNotifier
from adapters.http.metrics.registry import ChiffonMetrics
from adapters.memory.notifier import InMemoryNotifier
from chiffon.events import TaskChanged
from chiffon.model import CancelOutcome, ChangeKind, TaskStatus
from tests.contract.store.builders import at, make_task

K = ChangeKind


def sample(metrics: ChiffonMetrics, name: str, **labels: str) -> float:
    found = metrics.registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


async def test_each_change_is_counted_once_by_its_kind() -> None:
    metrics = ChiffonMetrics()
    notifier = MeteredNotifier(InMemoryNotifier(), metrics)
    task = make_task()
    started = attrs.evolve(task, status=TaskStatus.RUNNING, started_at=at(2), updated_at=at(2))
    progress = attrs.evolve(started, progress_percent=50)  # same instant as the start
    done = attrs.evolve(progress, status=TaskStatus.CANCELLED, finished_at=at(3))
    settled = attrs.evolve(done, cancel_outcome=CancelOutcome.STOPPED)
    for change, state in [
        (K.DISPATCHED, task),
        (K.WAITING, attrs.evolve(task, revision=2)),  # pending again, but no new dispatch
        (K.STARTED, started),
        (K.PROGRESS, progress),
        (K.CANCELLED, done),
        (K.CANCEL_CONFIRMED, settled),  # a later word on a final task: not a second end
        (K.REPORT_REFUSED, settled),
    ]:
        await notifier.publish(TaskChanged(change, state))
    assert sample(metrics, "chiffon_tasks_dispatched_total", work_type=task.work_type) == 1
    waits = sample(metrics, "chiffon_task_queue_wait_seconds_count", work_type=task.work_type)
    assert waits == 1
    ended = {"work_type": task.work_type, "status": "cancelled"}
    assert sample(metrics, "chiffon_tasks_finished_total", **ended) == 1
    assert sample(metrics, "chiffon_task_queue_wait_seconds_sum", work_type=task.work_type) == (
        timedelta(seconds=2).total_seconds()
    )
