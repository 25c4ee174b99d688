"""The typed patch a change hands the store: only fields that may change after dispatch, set
or kept, combined in order."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import attrs
import pytest

from chiffon.model import Task, TaskStatus
from chiffon.patch import KEEP, NAMES, TaskPatch
from tests.contract.store.builders import at, make_task

FIXED_AT_DISPATCH = {
    "task_id",
    "request_id",
    "trace_id",
    "work_type",
    "agent_type",
    "priority",
    "parameters",
    "created_at",
    "revision",
}


def test_a_patch_names_only_fields_a_task_may_change() -> None:
    task_fields = {f.name for f in attrs.fields(Task)}
    assert set(NAMES) <= task_fields - FIXED_AT_DISPATCH
    fixed: dict[str, Any] = {"work_type": "x"}
    with pytest.raises(TypeError):  # and mypy refuses it before it runs
        TaskPatch(**fixed)


def test_only_the_fields_set_are_values_and_none_is_a_value() -> None:
    patch = TaskPatch(status=TaskStatus.RUNNING, agent_id=None)
    assert patch.values() == {"status": TaskStatus.RUNNING, "agent_id": None}
    assert patch.output is KEEP and TaskPatch().values() == {}


def test_a_later_patch_wins_where_both_set_a_field() -> None:
    agent = uuid4()
    first = TaskPatch(status=TaskStatus.RUNNING, error_message="a")
    later = TaskPatch(error_message="b", agent_id=agent)
    assert (first | later).values() == {
        "status": TaskStatus.RUNNING,
        "error_message": "b",
        "agent_id": agent,
    }


def test_applied_to_a_task_it_sets_its_fields_and_keeps_the_rest() -> None:
    task = make_task(progress_percent=10)
    moved = TaskPatch(status=TaskStatus.RUNNING, started_at=at(5)).applied_to(task)
    assert moved == attrs.evolve(task, status=TaskStatus.RUNNING, started_at=at(5))
