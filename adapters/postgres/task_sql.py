"""SQL of the task repository: fixed statements and the builders for page and apply."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final
from uuid import UUID

from adapters.postgres.rows import TASK_COLUMNS, db_value, insert_outbox_sql, outbox_arrays
from chiffon import lifecycle
from chiffon.model import CancelOutcome, EventDraft, OutboxMessage, TaskStatus
from chiffon.patch import ReportGuard
from chiffon.waiting import WAITING_RULE
from ports.task_repository import PageCursor, TaskFilter

_COLS = ", ".join(TASK_COLUMNS)
_ARGS = ", ".join(f"${i}" for i in range(1, len(TASK_COLUMNS) + 1))

INSERT_TASK: Final = (
    f"INSERT INTO tasks ({_COLS}) VALUES ({_ARGS}) ON CONFLICT (task_id) DO NOTHING RETURNING *"
)
SELECT_TASK: Final = "SELECT * FROM tasks WHERE task_id = $1"
RUNNING_ON: Final = (
    "SELECT * FROM tasks WHERE status = 'running' AND agent_id = $1 ORDER BY created_at, task_id"
)
INSERT_OUTBOX: Final = insert_outbox_sql(1)
# Each half on its partial index (running by agent, cancel requested by agent).
ORPHANED: Final = f"""
SELECT * FROM (
  (SELECT * FROM tasks WHERE status = 'running' AND NOT (agent_id = ANY($1::uuid[]))
   AND started_at < $2)
  UNION ALL
  (SELECT * FROM tasks WHERE cancel_outcome = '{CancelOutcome.REQUESTED}'
   AND NOT (agent_id = ANY($1::uuid[])) AND started_at < $2)
) held WHERE agent_id IS NOT NULL ORDER BY started_at, task_id LIMIT $3
"""
PENDING_WITHOUT_WORK: Final = """
SELECT * FROM tasks t WHERE status = 'pending'
AND (concurrency_key IS NULL OR admitted_at IS NOT NULL) AND NOT EXISTS (
  SELECT 1 FROM outbox o WHERE o.task_id = t.task_id AND o.sent_at IS NULL
  AND o.kind = 'work_request')
ORDER BY created_at, task_id LIMIT $1
"""

_ACTIVE: Final = ", ".join(f"'{s.value}'" for s in sorted(lifecycle.ACTIVE))
# Literal states (from the lifecycle table), so the planner can use the partial index.
DUE_FOR_TIMEOUT: Final = f"""
SELECT * FROM tasks
WHERE status IN ({_ACTIVE}) AND deadline_at IS NOT NULL AND deadline_at <= $1
ORDER BY deadline_at, task_id LIMIT $2
"""
_TERMINAL: Final = ", ".join(f"'{s.value}'" for s in sorted(lifecycle.TERMINAL))
RETENTION_LOCK_KEY: Final = 0x63686966666F6F  # one replica deletes at a time
# One batch: the oldest finished tasks (the partial index of migration 0004 matches this
# predicate), with their timelines and outbox rows. SKIP LOCKED: never waits on a writer.
DELETE_FINISHED: Final = f"""
WITH doomed AS (
    SELECT task_id FROM tasks WHERE status IN ({_TERMINAL}) AND finished_at < $1
    ORDER BY finished_at LIMIT $2 FOR UPDATE SKIP LOCKED
), gone AS (
    DELETE FROM tasks WHERE task_id IN (SELECT task_id FROM doomed) RETURNING task_id
), timeline AS (
    DELETE FROM task_events WHERE task_id IN (SELECT task_id FROM gone)
), messages AS (
    DELETE FROM outbox WHERE task_id IN (SELECT task_id FROM gone)
)
SELECT count(*) FROM gone
"""
AWAITING_CANCEL: Final = f"""
SELECT * FROM tasks WHERE status = 'cancelled' AND cancel_outcome = '{CancelOutcome.REQUESTED}'
AND agent_id = $1
"""


def _waiting_sql(due_reason: str, now: str) -> tuple[str, str]:
    """(reason, until) of a pending row as SQL expressions, written from the domain's
    WAITING_RULE (chiffon/waiting.py): the rule is said there only."""
    is_due = f"(next_attempt_at IS NULL OR next_attempt_at <= {now})"
    awaits_slot = "(concurrency_key IS NOT NULL AND admitted_at IS NULL)"
    whens = []
    for case in WAITING_RULE:
        holds = [is_due if case.due else f"NOT {is_due}"]
        if case.first_attempt is not None:
            holds.append("attempt = 1" if case.first_attempt else "attempt <> 1")
        if case.awaits_slot is not None:
            holds.append(awaits_slot if case.awaits_slot else f"NOT {awaits_slot}")
        reason = due_reason if case.reason is None else f"'{case.reason.value}'"
        whens.append(f"WHEN {' AND '.join(holds)} THEN {reason}")
    return f"CASE {' '.join(whens)} END", f"CASE WHEN NOT {is_due} THEN next_attempt_at END"


_REASON, _UNTIL = _waiting_sql(due_reason="$2::text", now="$3")
# The rule of TaskRepository.reconcile_waiting, for one agent type ($1), what due tasks wait
# for ($2) and now ($3). Only rows whose reason changes are locked (none, most of the time);
# rows another writer holds are left for the next round.
RECONCILE_WAITING: Final = f"""
WITH wanted AS (
    SELECT task_id, waiting_reason, waiting_until, {_REASON} AS reason, {_UNTIL} AS until
    FROM tasks WHERE status = 'pending' AND agent_type = $1
), target AS (
    SELECT t.task_id, w.reason, w.until FROM tasks t JOIN wanted w USING (task_id)
    WHERE w.waiting_reason IS DISTINCT FROM w.reason OR w.waiting_until IS DISTINCT FROM w.until
    ORDER BY t.created_at, t.task_id LIMIT $4
    FOR UPDATE OF t SKIP LOCKED
)
UPDATE tasks t SET waiting_reason = target.reason, waiting_until = target.until,
    updated_at = $3, revision = t.revision + 1
FROM target WHERE t.task_id = target.task_id AND t.status = 'pending'
RETURNING t.*
"""
# Concurrency keys (migration 0013): each on its partial index.
_DUE_WAITING: Final = """
status = 'pending' AND concurrency_key IS NOT NULL AND admitted_at IS NULL
AND (next_attempt_at IS NULL OR next_attempt_at <= $2)
"""
# chiffon.concurrency.holds_slot, on the partial index tasks_concurrency_held_idx.
_HOLDS: Final = f"""admitted_at IS NOT NULL
AND (status IN ('pending', 'running') OR cancel_outcome = '{CancelOutcome.REQUESTED}')"""
NEXT_WAITING: Final = f"""
SELECT * FROM tasks WHERE concurrency_key = $1 AND {_DUE_WAITING}
ORDER BY priority DESC, created_at, task_id LIMIT 1
"""
# Keys whose waiting tasks may get a slot now: fewer held than the largest limit among them
# (admission checks each task's own limit under the lock; this only spares the full keys).
WAITING_KEYS: Final = f"""
SELECT k.concurrency_key FROM (
    SELECT concurrency_key, max(concurrency_max_running) AS most FROM tasks
    WHERE {_DUE_WAITING} GROUP BY concurrency_key
) k
WHERE (SELECT count(*) FROM tasks h WHERE h.concurrency_key = k.concurrency_key
       AND {_HOLDS}) < k.most
ORDER BY k.concurrency_key LIMIT $1
"""
# Admissions of one key wait for each other (in this transaction): the count they read is
# then every slot taken by a committed admission. A release needs no lock: it only lowers it.
LOCK_KEY: Final = "SELECT pg_advisory_xact_lock(hashtextextended('chiffon.concurrency:' || $1, 0))"
SLOTS_HELD: Final = f"SELECT count(*) FROM tasks WHERE concurrency_key = $1 AND {_HOLDS}"
INSERT_EVENTS: Final = """
INSERT INTO task_events (task_id, revision, at, kind, status, changes)
SELECT e.task_id, e.revision, e.at, e.kind, e.status, e.changes::jsonb
FROM unnest($1::uuid[], $2::int[], $3::timestamptz[], $4::text[], $5::text[], $6::text[])
    AS e(task_id, revision, at, kind, status, changes)
"""
SELECT_EVENTS: Final = """
SELECT * FROM task_events WHERE task_id = $1 AND revision > $2 ORDER BY revision LIMIT $3
"""
SELECT_TIMELINES: Final = """
SELECT * FROM task_events WHERE task_id = ANY($1::uuid[]) ORDER BY task_id, revision
"""
INSERT_EVENT_COLUMNS: Final = "task_id, revision, at, kind, status, changes"

# A row without not_before is claimed once stale ($2; NULL: any); one with it, once due ($3).
CLAIM_OUTBOX: Final = """
SELECT message_id, payload, created_at, not_before FROM outbox
WHERE sent_at IS NULL AND CASE
    WHEN not_before IS NULL THEN $2::timestamptz IS NULL OR created_at < $2
    ELSE not_before <= $3::timestamptz
END
ORDER BY created_at, message_id
LIMIT $1 FOR UPDATE SKIP LOCKED
"""
# A confirmed message's row is deleted at once: nothing reads a sent row, and an UPDATE of
# sent_at wrote a new row version and index entries that a prune then deleted again.
MARK_SENT: Final = "DELETE FROM outbox WHERE message_id = ANY($1::uuid[]) AND sent_at IS NULL"
COUNT_BY_STATUS: Final = "SELECT status, count(*) AS n FROM tasks GROUP BY status"
COUNT_UNSENT: Final = "SELECT count(*) FROM outbox WHERE sent_at IS NULL"
# Rows an earlier version marked sent (it kept them an hour): pruned as they were.
PRUNE_SENT: Final = "DELETE FROM outbox WHERE sent_at < now() - interval '1 hour'"


# Every column, but the bulky ones left unread (a light page: see TaskRepository.page).
_LEFT_OUT: Final = {"parameters": "'{}'::jsonb", "result": "NULL::jsonb", "output": "NULL::text"}
LIGHT_COLUMNS: Final = ", ".join(
    f"{_LEFT_OUT[c]} AS {c}" if c in _LEFT_OUT else c for c in TASK_COLUMNS
)


def page_query(
    flt: TaskFilter, limit: int, after: PageCursor | None, light: bool = False
) -> tuple[str, list[Any]]:
    """One keyset page plus one row (limit + 1) that tells whether another page follows."""
    filters: list[tuple[str, Any]] = [
        ("status", None if flt.status is None else flt.status.value),
        ("work_type", flt.work_type),
        ("agent_type", flt.agent_type),
        ("trace_id", flt.trace_id),
    ]
    where: list[str] = []
    if flt.waiting_reason is not None:
        filters.append(("waiting_reason", flt.waiting_reason.value))
    args: list[Any] = []
    for column, value in filters:
        if value is not None:  # only present filters, so the planner picks the matching index
            args.append(value)
            where.append(f"{column} = ${len(args)}")
    if after is not None:
        args += [after.created_at, after.task_id]
        where.append(f"(created_at, task_id) < (${len(args) - 1}, ${len(args)})")
    _search(flt, where, args)
    args.append(limit + 1)
    clause = f"WHERE {' AND '.join(where)} " if where else ""
    columns = LIGHT_COLUMNS if light else "*"
    sql = (
        f"SELECT {columns} FROM tasks {clause}"
        f"ORDER BY created_at DESC, task_id DESC LIMIT ${len(args)}"
    )
    return sql, args


def _search(flt: TaskFilter, where: list[str], args: list[Any]) -> None:
    """The search filters: an id prefix as a range of the primary key, an agent, a time
    range, and a text match (a substring; no index, see docs/postgres.md)."""
    bounds = flt.id_bounds()
    if bounds is not None:
        args += list(bounds)
        where.append(f"task_id BETWEEN ${len(args) - 1} AND ${len(args)}")
    for column, op, value in (
        ("agent_id", "=", flt.agent_id),
        ("schedule_id", "=", flt.schedule_id),
        ("concurrency_key", "=", flt.concurrency_key),
        ("created_at", ">=", flt.created_after),
        ("created_at", "<", flt.created_before),
    ):
        if value is not None:
            args.append(value)
            where.append(f"{column} {op} ${len(args)}")
    if flt.text is not None:
        args.append("%" + _like_escaped(flt.text) + "%")
        n = len(args)
        where.append(
            f"(parameters::text ILIKE ${n} OR result::text ILIKE ${n} OR error_message ILIKE ${n})"
        )


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def apply_query(
    task_id: UUID,
    guard: int | ReportGuard,
    fields: Mapping[str, Any],
    event: EventDraft,
    outbox: Sequence[OutboxMessage],
    then: EventDraft | None = None,
) -> tuple[str, list[Any]]:
    """ONE statement: the conditional UPDATE (revision + 1) under `guard` (the revision the
    change was decided from, or a report's guard), the timeline entry with the new revision,
    and the outbox rows, each written only if the update matched. `fields`: the values of a
    TaskPatch (its names, safe to interpolate). With `then` (a second report's entry, see
    `LedgerStore.apply_report`): revision + 2, `event` at revision + 1, `then` at + 2."""
    steps = 1 if then is None else 2
    args: list[Any] = [task_id]
    sets = [f"revision = revision + {steps}"]
    for name in sorted(fields):
        args.append(db_value(name, fields[name]))
        sets.append(f"{name} = ${len(args)}")
    where = _guard(guard, args)
    entries = []
    for i, entry in enumerate((event,) if then is None else (event, then)):
        args += [entry.at, entry.kind, entry.status.value, entry.changes]
        n = len(args)
        revision = "revision" if i == steps - 1 else f"revision - {steps - 1 - i}"
        entries.append(
            f"SELECT task_id, {revision}, ${n - 3}::timestamptz, ${n - 2}::text, ${n - 1}::text,"
            f" ${n}::jsonb FROM moved"
        )
    sql = (
        f"WITH moved AS (UPDATE tasks SET {', '.join(sets)} WHERE task_id = $1 AND {where}"
        f" RETURNING *), logged AS (INSERT INTO task_events ({INSERT_EVENT_COLUMNS})"
        f" {' UNION ALL '.join(entries)})"
    )
    if _final(fields) or "attempt" in fields:  # nor does a task at its next attempt:
        # a final task needs none of the work that was waiting for its time
        sql += (
            ", dropped AS (DELETE FROM outbox WHERE task_id = $1 AND kind = 'work_request'"
            " AND sent_at IS NULL AND EXISTS (SELECT 1 FROM moved))"
        )
    if outbox:
        first = len(args) + 1
        args += outbox_arrays(outbox)
        insert = insert_outbox_sql(first).replace(
            " ON CONFLICT", " WHERE EXISTS (SELECT 1 FROM moved) ON CONFLICT"
        )
        sql += f", sent AS ({insert})"
    return sql + " SELECT * FROM moved", args


def _final(fields: Mapping[str, Any]) -> bool:
    status = fields.get("status")
    return status is not None and lifecycle.is_terminal(TaskStatus(status))


def _guard(guard: int | ReportGuard, args: list[Any]) -> str:
    if isinstance(guard, int):
        args.append(guard)
        return f"revision = ${len(args)}"
    args += [sorted(s.value for s in guard.statuses), guard.attempt, guard.agent_id]
    args.append(guard.due_by)
    n = len(args)
    return (
        f"status = ANY(${n - 3}::text[]) AND (${n - 2}::int IS NULL OR attempt = ${n - 2})"
        f" AND (${n - 1}::uuid IS NULL OR agent_id = ${n - 1})"
        f" AND (${n}::timestamptz IS NULL OR next_attempt_at IS NULL OR next_attempt_at <= ${n})"
    )
