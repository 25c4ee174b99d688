"""A schedule as the API shows it: flat like a dispatch's body (timing and work fields at the
top level), for the REST answers and the WebSocket's `schedule.updated` frames alike."""

from __future__ import annotations

from typing import Any

from adapters.codec import converter
from chiffon.schedules import Schedule


def schedule_json(schedule: Schedule) -> dict[str, Any]:
    data: dict[str, Any] = converter.unstructure(schedule)
    timing, work = data.pop("timing"), data.pop("work")
    data.update(cron=timing["cron"], timezone=timing["timezone"], interval_s=timing["interval_s"])
    data.update(work)
    data["retry"] = {
        "max_attempts": schedule.work.retry.max_attempts,
        "backoff_s": schedule.work.retry.backoff_s,
        "backoff_max_s": schedule.work.retry.backoff_max_s,
        "on": [str(o) for o in schedule.work.retry.on],
    }
    return {
        k: str(v) if k in ("overlap", "catch_up", "on_no_agent") else v for k, v in data.items()
    }
