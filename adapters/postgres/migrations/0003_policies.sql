-- chiffon 0003: retry policies, delayed starts, and outbox rows that wait for their time.

ALTER TABLE tasks
    ADD COLUMN retry_on jsonb NOT NULL DEFAULT '["lost"]'::jsonb,
    ADD COLUMN retry_backoff_s double precision NOT NULL DEFAULT 0,
    ADD COLUMN retry_backoff_max_s double precision NOT NULL DEFAULT 0,
    ADD COLUMN not_before timestamptz,
    ADD COLUMN next_attempt_at timestamptz;

-- not_before: the relay sends the row at that time, not before. task_id and kind: a task that
-- reaches a final state drops its unsent work (a cancelled delayed start is never sent).
ALTER TABLE outbox
    ADD COLUMN not_before timestamptz,
    ADD COLUMN task_id uuid,
    ADD COLUMN kind text;

CREATE INDEX outbox_scheduled_idx ON outbox (not_before)
    WHERE sent_at IS NULL AND not_before IS NOT NULL;
CREATE INDEX outbox_unsent_task_idx ON outbox (task_id) WHERE sent_at IS NULL;
