"""The history checker's concurrency rule on hand-built histories: runs of one key counted
across tasks (and across the pages of an audit), judged by the timelines' times."""

from __future__ import annotations

from datetime import timedelta

import attrs

from chiffon.audit import Rule, TaskHistory, check, concurrency_violations
from chiffon.audit_concurrency import KeyedRuns
from tests.unit.test_audit import LIVE, SCOPE, A, B, History


def keyed(h: History, key: str = "db-1", max_running: int = 1, shift_s: float = 0) -> TaskHistory:
    """`h` with a concurrency key, its entries `shift_s` later."""
    task = attrs.evolve(h.task, concurrency_key=key, concurrency_max_running=max_running)
    later = timedelta(seconds=shift_s)
    return TaskHistory(task, tuple(attrs.evolve(e, at=e.at + later) for e in h.events))


def rules(*histories: TaskHistory) -> list[str]:
    return [v.rule for v in check(histories, LIVE, SCOPE)]


def test_runs_one_after_another_are_fine() -> None:
    # Each runs from its revision 2 to 3 (seconds 2 to 3 after T0, plus its shift).
    first = keyed(History().start(A).finish(A))
    second = keyed(History().start(B).finish(B), shift_s=1)  # starts as the first ends
    third = keyed(History().start(A).finish(A), shift_s=5)
    assert rules(first, second, third) == []


def test_two_running_at_once_over_a_limit_of_one_are_caught() -> None:
    first = keyed(History().start(A).progress(A).finish(A))  # runs 2 s .. 4 s
    second = keyed(History().start(B).finish(B), shift_s=1)  # starts at 3 s
    found = check([first, second], LIVE, SCOPE)
    assert [v.rule for v in found] == [Rule.CONCURRENCY]
    assert found[0].task_id == second.task.task_id and found[0].revisions == (2,)
    assert "'db-1'" in found[0].message and "max_running 1" in found[0].message


def test_the_limit_is_the_key_s_and_a_still_running_task_counts() -> None:
    two = [keyed(History().start(A), max_running=2, shift_s=s) for s in (0, 1)]
    assert rules(*two) == []  # two at once, as allowed
    third = keyed(History().start(B), max_running=2, shift_s=2)
    assert rules(*two, third) == [Rule.CONCURRENCY]
    other_key = keyed(History().start(B), key="db-2", shift_s=2)
    assert rules(*two, other_key) == []
    unkeyed = History().start(B).history()
    assert rules(*two, unkeyed) == []


def test_runs_are_gathered_across_pages() -> None:
    runs = KeyedRuns()
    first = keyed(History().start(A).progress(A).finish(A))
    second = keyed(History().start(B).finish(B), shift_s=1)
    assert check([first], LIVE, SCOPE, runs) == []
    assert check([second], LIVE, SCOPE, runs) == []  # left for the end of the audit
    assert [v.rule for v in concurrency_violations(runs)] == [Rule.CONCURRENCY]


def test_a_run_that_ended_as_it_started_overlaps_nothing() -> None:
    """On a virtual clock an instant handler starts and ends at one time: [t, t) is empty,
    so beside it two runs are within a limit of 2."""
    two = [keyed(History().start(A).progress(A).finish(A), max_running=2) for _ in range(2)]
    run = keyed(History().start(B).finish(B), max_running=2, shift_s=0.5)
    started = run.events[1].at
    instant = attrs.evolve(
        run, events=(*run.events[:2], attrs.evolve(run.events[2], at=started))
    )  # runs [2.5 s, 2.5 s): inside the other two's [2 s, 4 s)
    assert rules(*two, instant) == []
    assert rules(*two, run) == [Rule.CONCURRENCY]  # [2.5 s, 3.5 s) is a third one
