-- chiffon 0010: schedules (issue 23, ADR 0011).

-- One row per schedule: the columns the scheduler queries on, and the whole schedule as JSON
-- (`body`, written by the codec; the columns mirror it). A fire is claimed by an UPDATE
-- conditional on `revision`.
CREATE TABLE schedules (
    schedule_id  uuid PRIMARY KEY,
    revision     int8 NOT NULL,
    paused       bool NOT NULL,
    next_fire_at timestamptz,
    buffered_at  timestamptz,
    created_at   timestamptz NOT NULL,
    body         jsonb NOT NULL
);
CREATE INDEX schedules_due_idx ON schedules (next_fire_at) WHERE NOT paused;
CREATE INDEX schedules_buffered_idx ON schedules (schedule_id)
    WHERE buffered_at IS NOT NULL AND NOT paused;

-- The schedule a task was fired by, and the time it was scheduled for.
ALTER TABLE tasks ADD COLUMN schedule_id uuid;
ALTER TABLE tasks ADD COLUMN scheduled_at timestamptz;
CREATE INDEX tasks_schedule_created_idx ON tasks (schedule_id, created_at DESC, task_id DESC)
    WHERE schedule_id IS NOT NULL;
