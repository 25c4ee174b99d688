"""The waiting-reason rule's table: every case of a pending task is named, and says what
`reason_for` answers (the PostgreSQL adapter writes its SQL from the same table)."""

from __future__ import annotations

from chiffon.waiting import WAITING_RULE


def test_every_case_of_a_pending_task_has_exactly_one_reason() -> None:
    for due in (True, False):
        for first in (True, False):
            holding = [c for c in WAITING_RULE if c.due == due and c.first_attempt in (None, first)]
            assert len(holding) == 1, (due, first)


def test_only_a_due_task_waits_for_its_agents() -> None:
    assert {c.due for c in WAITING_RULE if c.reason is None} == {True}
