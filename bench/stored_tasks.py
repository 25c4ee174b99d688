"""Seeds a chiffon database with many stored tasks in one statement (for the search and stats
benchmarks): a day of history, every status, four agents, parameters and errors to search."""

from __future__ import annotations

import asyncpg

SEED = """
INSERT INTO tasks (task_id, request_id, trace_id, work_type, agent_type, priority, parameters,
                   status, created_at, updated_at, started_at, finished_at, duration_ms,
                   agent_id, error_message, result, exit_code)
SELECT gen_random_uuid(), gen_random_uuid(), gen_random_uuid(),
       (ARRAY['echo', 'sleep', 'fail', 'ansible'])[1 + i % 4],
       CASE WHEN i % 4 = 3 THEN 'infra' ELSE 'demo' END,
       1 + i % 5,
       jsonb_build_object('host', 'host-' || (i % 997), 'n', i),
       s.status, t.created, t.created + interval '2 seconds',
       CASE WHEN s.status <> 'pending' THEN t.created + interval '100 milliseconds' END,
       CASE WHEN s.status IN ('completed', 'failed', 'cancelled', 'timed_out')
            THEN t.created + (100 + i % 3000) * interval '1 millisecond' END,
       CASE WHEN s.status IN ('completed', 'failed') THEN i % 3000 END,
       CASE WHEN s.status <> 'pending' THEN a.ids[1 + i % 4] END,
       CASE WHEN s.status = 'failed' THEN 'disk full on host-' || (i % 997) END,
       CASE WHEN s.status = 'completed' THEN jsonb_build_object('ok', i) END,
       CASE WHEN s.status = 'failed' THEN 1 END
FROM generate_series(1, $1::int) AS i,
     LATERAL (SELECT now() - (i::float8 / $1) * $2::float8 * interval '1 second' AS created) t,
     LATERAL (SELECT (ARRAY['completed', 'completed', 'completed', 'completed', 'completed',
                            'completed', 'failed', 'cancelled', 'timed_out', 'pending',
                            'running'])[1 + i % 11] AS status) s,
     (SELECT ARRAY[gen_random_uuid(), gen_random_uuid(), gen_random_uuid(),
                   gen_random_uuid()] AS ids) a
"""


async def seed(dsn: str, count: int, span_s: float = 86_400.0) -> None:
    """`count` tasks created evenly over the last `span_s` seconds, then ANALYZE."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(SEED, count, span_s)
        await conn.execute("ANALYZE tasks")
    finally:
        await conn.close()
