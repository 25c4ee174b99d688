-- chiffon 0005: why a pending task waits, and how a cancel ended.

ALTER TABLE tasks
    ADD COLUMN waiting_reason text,
    ADD COLUMN waiting_until timestamptz,
    ADD COLUMN cancel_outcome text;

-- GET /api/v1/tasks?waiting_reason=..., newest first.
CREATE INDEX tasks_waiting_created_idx ON tasks (waiting_reason, created_at DESC, task_id DESC)
    WHERE waiting_reason IS NOT NULL;
-- Cancels still waiting for their agent's word (settled when the agent is lost).
CREATE INDEX tasks_cancel_requested_idx ON tasks (agent_id) WHERE cancel_outcome = 'requested';
-- The sweeper brings pending tasks' reasons up to date per agent type, every second.
CREATE INDEX tasks_pending_type_idx ON tasks (agent_type) WHERE status = 'pending';
