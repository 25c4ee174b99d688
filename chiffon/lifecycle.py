"""The task state machine: which transitions are allowed and which states are final. The one
table every change is checked against (chiffon.changes); no caller restates a from-state."""

from __future__ import annotations

from chiffon.model import TaskStatus

TERMINAL: frozenset[TaskStatus] = frozenset(
    {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.TIMED_OUT}
)
ACTIVE: frozenset[TaskStatus] = frozenset({TaskStatus.PENDING, TaskStatus.RUNNING})

# -> pending exists only for a retry (a new attempt number): running -> pending when the
# attempt ended and the retry policy tries again, pending -> pending when an attempt that
# never started timed out and the policy retries time-outs. pending -> failed only for work
# that can never be sent to an agent.
ALLOWED: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.PENDING: frozenset(
        {
            TaskStatus.RUNNING,
            TaskStatus.CANCELLED,
            TaskStatus.TIMED_OUT,
            TaskStatus.FAILED,
            TaskStatus.PENDING,
        }
    ),
    TaskStatus.RUNNING: frozenset(
        {
            TaskStatus.COMPLETED,
            TaskStatus.FAILED,
            TaskStatus.CANCELLED,
            TaskStatus.TIMED_OUT,
            TaskStatus.PENDING,
        }
    ),
}
# States in which a task may change without changing its status (a running task's progress).
UPDATABLE: frozenset[TaskStatus] = frozenset({TaskStatus.RUNNING})
# A cancelled task still takes its agent's last word on how the cancel ended (stopped, or too
# late: its result), without changing its status: the one change after a final state.
CANCEL_CONFIRMABLE: frozenset[TaskStatus] = frozenset({TaskStatus.CANCELLED})


def is_terminal(status: TaskStatus) -> bool:
    return status in TERMINAL


def can_move(source: TaskStatus, target: TaskStatus) -> bool:
    return target in ALLOWED.get(source, frozenset())


def sources_of(target: TaskStatus) -> frozenset[TaskStatus]:
    """The states from which `target` may be reached (what a conditional update allows)."""
    return frozenset(s for s, targets in ALLOWED.items() if target in targets)


def sources_for(target: TaskStatus | None) -> frozenset[TaskStatus]:
    """Where a change may start: `target` None is an update that keeps the status."""
    return UPDATABLE if target is None else sources_of(target)
