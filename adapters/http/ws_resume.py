"""Resuming a task subscription: the changes a client missed, rebuilt from the timeline.

A client that saw a task up to revision N subscribes with `"after_revision": N` and gets one
`task.updated` frame per revision after N, each the task as it was at that revision (folding
the timeline's changes in order gives exactly that), then the live ones: nothing missed,
nothing twice, no guessing which copy is newer."""

from __future__ import annotations

from typing import Any, Final
from uuid import UUID

import attrs

from adapters.codec import structure, task_to_json
from chiffon.events import TaskChanged
from chiffon.model import Task
from chiffon.orchestrator import OrchestratorService

MAX_REPLAYED: Final = 10_000  # a longer timeline falls back to a snapshot


@attrs.frozen
class Replay:
    """The task at each revision after the client's with the change that made it, oldest
    first; `complete` is False when the timeline was too long to replay (the caller sends a
    snapshot instead)."""

    current: Task
    missed: tuple[TaskChanged, ...]
    complete: bool = True


async def replay(service: OrchestratorService, task_id: UUID, after: int) -> Replay:
    """Raises TaskNotFound for an unknown task."""
    task, timeline = await service.timeline(task_id, 0, MAX_REPLAYED + 1)
    if len(timeline) > MAX_REPLAYED:
        return Replay(task, (), complete=False)
    fixed = {"parameters": task_to_json(task)["parameters"]}  # set at dispatch, never changed
    state: dict[str, Any] = {}
    missed: list[TaskChanged] = []
    for event in timeline:
        state.update(event.changes)
        if event.revision > after:
            then = structure({**state, **fixed, "revision": event.revision}, Task)
            missed.append(TaskChanged(event.kind, then))
    return Replay(task, tuple(missed))
