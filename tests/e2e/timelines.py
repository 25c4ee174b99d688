"""What a task's timeline, as GET /api/v1/tasks/{id}/events gives it, must look like."""

from __future__ import annotations

from typing import Any

TERMINAL = frozenset({"completed", "failed", "cancelled", "timed_out"})


def history_violations(task_id: str, events: list[dict[str, Any]], status: str) -> list[str]:
    """What is wrong with one task's timeline: revisions not 1..n, not exactly one terminal
    state, a change of state after it, or a last state other than the stored one."""
    found = []
    revisions = [e["revision"] for e in events]
    if revisions != list(range(1, len(events) + 1)):
        found.append(f"{task_id}: revisions {revisions} are not 1..{len(events)}")
    ends = [e for e in events if e["status"] in TERMINAL]
    first_end = next((e["revision"] for e in ends), None)
    if first_end is None:
        found.append(f"{task_id}: no terminal state in {len(events)} changes")
    moved = [e["revision"] for e in ends[1:] if e["status"] != ends[0]["status"]]
    after = [e["revision"] for e in events if first_end and e["revision"] > first_end]
    if moved or (after and events[-1]["status"] != ends[0]["status"]):
        found.append(f"{task_id}: state changed after the end at r{first_end}: r{after}")
    # After the end only its epilogue (a cancel settled, a late report refused), never the
    # ending again: a result applied twice.
    again = [e["revision"] for e in ends[1:] if e["kind"] == ends[0]["kind"]]
    if again:
        found.append(f"{task_id}: ended by {ends[0]['kind']} at r{first_end} and again at {again}")
    if events and events[-1]["status"] != status:
        found.append(f"{task_id}: timeline ends {events[-1]['status']}, the row says {status}")
    return found
