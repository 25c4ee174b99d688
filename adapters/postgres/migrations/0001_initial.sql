-- chiffon 0001: tasks, agents and the transactional outbox.

CREATE TABLE tasks (
    task_id          uuid PRIMARY KEY,
    request_id       uuid NOT NULL UNIQUE,
    trace_id         uuid NOT NULL,
    work_type        text NOT NULL,
    agent_type       text NOT NULL,
    priority         integer NOT NULL CHECK (priority BETWEEN 1 AND 5),
    parameters       jsonb NOT NULL DEFAULT '{}'::jsonb,
    status           text NOT NULL CHECK (
        status IN ('pending', 'running', 'completed', 'failed', 'cancelled', 'timed_out')
    ),
    attempt          integer NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    max_attempts     integer NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    timeout_s        double precision,
    deadline_at      timestamptz,
    progress_percent integer,
    progress_message text,
    output           text,
    result           jsonb,
    error_message    text,
    exit_code        integer,
    duration_ms      bigint,
    agent_id         uuid,
    created_at       timestamptz NOT NULL,
    started_at       timestamptz,
    updated_at       timestamptz NOT NULL,
    finished_at      timestamptz
);

-- Keyset pagination, newest first, with and without each list filter.
CREATE INDEX tasks_created_idx ON tasks (created_at DESC, task_id DESC);
CREATE INDEX tasks_status_created_idx ON tasks (status, created_at DESC, task_id DESC);
CREATE INDEX tasks_work_type_created_idx ON tasks (work_type, created_at DESC, task_id DESC);
CREATE INDEX tasks_agent_type_created_idx ON tasks (agent_type, created_at DESC, task_id DESC);
CREATE INDEX tasks_trace_idx ON tasks (trace_id, created_at DESC, task_id DESC);
-- The reaper scans only active tasks that have a deadline.
CREATE INDEX tasks_active_deadline_idx ON tasks (deadline_at)
    WHERE status IN ('pending', 'running') AND deadline_at IS NOT NULL;
-- Tasks held by an agent that went offline.
CREATE INDEX tasks_running_agent_idx ON tasks (agent_id) WHERE status = 'running';

CREATE TABLE agents (
    agent_id          uuid PRIMARY KEY,
    agent_type        text NOT NULL,
    status            text NOT NULL CHECK (status IN ('online', 'busy', 'offline')),
    capabilities      text[] NOT NULL DEFAULT '{}',
    max_concurrency   integer NOT NULL,
    running_tasks     uuid[] NOT NULL DEFAULT '{}',
    resources         jsonb NOT NULL DEFAULT '{}'::jsonb,
    last_heartbeat_at timestamptz NOT NULL
);

CREATE INDEX agents_type_idx ON agents (agent_type, agent_id);
CREATE INDEX agents_live_heartbeat_idx ON agents (last_heartbeat_at) WHERE status <> 'offline';

CREATE TABLE outbox (
    message_id uuid PRIMARY KEY,
    payload    jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    sent_at    timestamptz
);

-- The relay claims unsent rows oldest first; pruning finds old sent rows.
CREATE INDEX outbox_unsent_idx ON outbox (created_at, message_id) WHERE sent_at IS NULL;
CREATE INDEX outbox_sent_idx ON outbox (sent_at) WHERE sent_at IS NOT NULL;
