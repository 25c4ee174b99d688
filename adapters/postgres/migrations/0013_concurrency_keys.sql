-- chiffon 0013: concurrency limits by key (issue 23, ADR 0015).

-- A task's key and limit, fixed at dispatch, and when it took its slot (null: it waits for one).
ALTER TABLE tasks
    ADD COLUMN concurrency_key text,
    ADD COLUMN concurrency_max_running int8,
    ADD COLUMN admitted_at timestamptz;

-- The claims: the rows of a key that hold a slot (chiffon.concurrency.holds_slot), counted at
-- each admission under the key's advisory lock. A row leaves this index as its status moves
-- on: a slot is never released by a separate write, so none can leak.
CREATE INDEX tasks_concurrency_held_idx ON tasks (concurrency_key)
    WHERE admitted_at IS NOT NULL
      AND (status IN ('pending', 'running') OR cancel_outcome = 'requested');
-- GET /api/v1/tasks?concurrency_key=..., newest first (who holds a key, who waits for it).
CREATE INDEX tasks_concurrency_created_idx
    ON tasks (concurrency_key, created_at DESC, task_id DESC) WHERE concurrency_key IS NOT NULL;
-- The queue of a key: who gets the next slot (highest priority, then oldest).
CREATE INDEX tasks_concurrency_waiting_idx
    ON tasks (concurrency_key, priority DESC, created_at, task_id)
    WHERE status = 'pending' AND concurrency_key IS NOT NULL AND admitted_at IS NULL;
