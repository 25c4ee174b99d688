-- chiffon 0004: retention deletes the oldest finished tasks in batches.
CREATE INDEX tasks_finished_idx ON tasks (finished_at)
    WHERE status IN ('cancelled', 'completed', 'failed', 'timed_out');
