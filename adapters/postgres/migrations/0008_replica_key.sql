-- chiffon 0008: the secret orchestrator replicas share (lease tokens in work messages, signed
-- notify frames; docs/adr/0009). Made by the first replica that starts, read by the others.

CREATE TABLE replica_keys (
    name text PRIMARY KEY,
    secret bytea NOT NULL CHECK (length(secret) >= 16),
    created_at timestamptz NOT NULL DEFAULT now()
);
