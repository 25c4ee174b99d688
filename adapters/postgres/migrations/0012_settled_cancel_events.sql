-- chiffon 0012: timeline entries of a settled cancel recorded the status `running` (a bug
-- fixed with this migration); the task was, and stays, cancelled. Histories read back (and
-- `chiffon audit`) must not see a task leave its end state.

UPDATE task_events SET status = 'cancelled'
    WHERE kind IN ('cancel_confirmed', 'cancel_unconfirmed') AND status <> 'cancelled';
