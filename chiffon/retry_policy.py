"""A task's retry policy: whether an attempt that ended some way gets another one, and when."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from chiffon.model import RetryOn, Task

MAX_ATTEMPTS_LIMIT: Final = 20
MAX_BACKOFF_S: Final = 24 * 3600.0
DEFAULT_BACKOFF_MAX_S: Final = 300.0


def retries(task: Task, ended: RetryOn) -> bool:
    """Whether the attempt that just ended (`ended`) gets another one."""
    return ended in task.retry_on and task.attempt < task.max_attempts


def next_attempt_at(task: Task, now: datetime, jitter: float) -> datetime | None:
    """When the next attempt starts: now without a backoff; else after retry_backoff_s,
    doubled for each attempt already made, up to retry_backoff_max_s, of which a random part
    (`jitter` in [0, 1)) is taken off, so retries of many tasks do not arrive in step."""
    if task.retry_backoff_s <= 0:
        return None
    wait = task.retry_backoff_s * 2.0 ** min(task.attempt - 1, 60)
    wait = min(wait, max(task.retry_backoff_max_s, task.retry_backoff_s))
    return now + timedelta(seconds=wait * (0.5 + jitter / 2))  # "equal jitter": 50..100%
