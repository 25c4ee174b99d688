-- chiffon 0002: every task change numbered (tasks.revision) and kept (task_events).

ALTER TABLE tasks ADD COLUMN revision integer NOT NULL DEFAULT 1 CHECK (revision >= 1);

-- One row per stored change of a task, in the same transaction as the change. No foreign
-- key: the row is only ever written with its task's change, and a key would cost a lookup
-- on every change; retention deletes a task's timeline with the task.
CREATE TABLE task_events (
    task_id  uuid NOT NULL,
    revision integer NOT NULL,
    at       timestamptz NOT NULL,
    kind     text NOT NULL,
    status   text NOT NULL,
    changes  jsonb NOT NULL,
    PRIMARY KEY (task_id, revision)
);

-- Tasks stored before timelines existed start theirs with one entry: their state then.
INSERT INTO task_events (task_id, revision, at, kind, status, changes)
SELECT task_id, 1, updated_at, 'imported', status, to_jsonb(t) - 'parameters' - 'revision'
FROM tasks t;
