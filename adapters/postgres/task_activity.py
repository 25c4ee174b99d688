"""What the stored tasks did over a span (TaskRepository.activity), in four reads."""

from __future__ import annotations

from typing import Any, Final

import asyncpg

from chiffon.stats import FINISHED as FINISHED_STATUSES
from chiffon.stats import Activity, Span

# The interval a timestamp falls in; $1 the span's start, $3 its step in seconds.
_INDEX: Final = "floor(extract(epoch FROM ({column} - $1)) / $3)::int"

# Created in the span: tasks_created_idx.
ARRIVALS: Final = f"""
SELECT agent_type, {_INDEX.format(column="created_at")} AS i, count(*) AS n
FROM tasks WHERE created_at >= $1 AND created_at < $2 GROUP BY 1, 2
"""
# Left the queue in the span (first started, or finished without starting): the expression
# index of migration 0009.
DEPARTURES: Final = f"""
SELECT agent_type, {_INDEX.format(column="coalesce(started_at, finished_at)")} AS i,
       count(*) AS n
FROM tasks WHERE coalesce(started_at, finished_at) >= $1 AND coalesce(started_at, finished_at) < $2
GROUP BY 1, 2
"""
# Finished in the span, by status, with the run time percentiles (which skip NULL
# durations) in the same pass: tasks_finished_idx (partial on the final statuses, hence IN).
FINISHED: Final = f"""
SELECT {_INDEX.format(column="finished_at")} AS i,
       count(*) FILTER (WHERE status = 'completed') AS completed,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       count(*) FILTER (WHERE status = 'timed_out') AS timed_out,
       count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95
FROM tasks WHERE finished_at >= $1 AND finished_at < $2
  AND status IN ('cancelled', 'completed', 'failed', 'timed_out')
GROUP BY 1
"""
# Pending now: tasks_pending_type_idx.
PENDING: Final = "SELECT agent_type, count(*) AS n FROM tasks WHERE status = 'pending' GROUP BY 1"


async def read_activity(conn: asyncpg.Connection, span: Span) -> Activity:
    """One snapshot (REPEATABLE READ), so the counts agree with each other."""
    args: list[Any] = [span.start, span.end, float(span.step_s)]
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        arrivals = await conn.fetch(ARRIVALS, *args)
        departures = await conn.fetch(DEPARTURES, *args)
        finished = await conn.fetch(FINISHED, *args)
        pending = await conn.fetch(PENDING)
    return Activity(
        arrivals={(r["agent_type"], r["i"]): r["n"] for r in arrivals},
        departures={(r["agent_type"], r["i"]): r["n"] for r in departures},
        finished={
            (s, r["i"]): r[s.value] for r in finished for s in FINISHED_STATUSES if r[s.value]
        },
        run_time_ms={r["i"]: (r["p50"], r["p95"]) for r in finished if r["p50"] is not None},
        pending_now={r["agent_type"]: r["n"] for r in pending},
    )
