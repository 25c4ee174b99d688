"""Port: durable schedule storage, where each fire is claimed by a conditional write."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID

from chiffon.schedules import Schedule


class ScheduleRepository(Protocol):
    """Schedules. Implementations return copies, never live objects.

    Errors: a store that cannot be reached raises `chiffon.errors.DependencyUnavailable`.
    """

    async def create(self, schedule: Schedule) -> bool:
        """Store a new schedule as given (its revision included); False, and nothing stored,
        when one with its schedule_id exists."""
        ...

    async def get(self, schedule_id: UUID) -> Schedule | None:
        """The schedule, or None."""
        ...

    async def list_all(self, limit: int = 1000) -> list[Schedule]:
        """Schedules by creation time, then schedule_id, at most `limit`."""
        ...

    async def due(self, now: datetime, limit: int = 100) -> list[Schedule]:
        """Schedules not paused whose next fire time is at or before `now`, or which hold a
        buffered fire; earliest next fire time first (buffered-only ones last), at most `limit`."""
        ...

    async def save(self, schedule: Schedule, expected_revision: int) -> Schedule | None:
        """If the stored schedule's revision is `expected_revision`, replace it with
        `schedule` at revision `expected_revision + 1` and return it as stored; otherwise
        change nothing and return None. This is how a fire is claimed: of two replicas that
        planned the same tick from the same revision, exactly one stores it."""
        ...

    async def delete(self, schedule_id: UUID) -> bool:
        """Remove the schedule; False when there was none. Its tasks stay."""
        ...
