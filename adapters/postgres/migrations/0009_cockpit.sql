-- chiffon 0009: what the cockpit asks of the tasks table (issue 22).

-- GET /api/v1/tasks?agent=ID (an agent's page), newest first. Other search filters use the
-- indexes there are: an id prefix is a range of the primary key, created_after/before a range
-- of tasks_created_idx; q= is a substring match with no index (cost: docs/postgres.md).
CREATE INDEX tasks_agent_created_idx ON tasks (agent_id, created_at DESC, task_id DESC)
    WHERE agent_id IS NOT NULL;

-- POST /api/v1/tasks/{id}/rerun: the task a rerun repeats.
ALTER TABLE tasks ADD COLUMN rerun_of uuid;

-- GET /api/v1/stats: when each task left the queue (first started, or finished unstarted).
CREATE INDEX tasks_left_queue_idx ON tasks ((coalesce(started_at, finished_at)));
