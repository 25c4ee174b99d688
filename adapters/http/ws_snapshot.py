"""Snapshots for WebSocket subscriptions, and which copy of a task, agent or schedule is the
newer."""

from __future__ import annotations

from typing import Any, Final
from uuid import UUID

import attrs

from adapters.http.ws_protocol import Subscription
from chiffon.model import Agent, Task, TaskStatus
from chiffon.orchestrator import OrchestratorService
from chiffon.schedule_service import ScheduleService
from chiffon.schedules import Schedule
from ports.task_repository import TaskFilter

Item = Task | Agent | Schedule
Key = tuple[str, UUID]

RECENT_TASKS: Final = 100
MAX_SNAPSHOT_TASKS: Final = 2000  # per status or trace; more is marked truncated
SNAPSHOT_PAGE: Final = 200  # small pages: the event loop turns between them


@attrs.frozen
class Snapshot:
    items: tuple[Item, ...]
    truncated: bool = False
    summary: bool = False  # tasks without parameters, result and output


async def load_snapshot(
    service: OrchestratorService,
    sub: Subscription,
    max_tasks: int = MAX_SNAPSHOT_TASKS,
    schedules: ScheduleService | None = None,
) -> Snapshot:
    """The current state a subscription starts from; raises TaskNotFound for a task_id.
    Trace and topic snapshots are summaries, read in light pages: their memory does not grow
    with the size of the tasks' payloads."""
    if sub.key == "task_id":
        assert isinstance(sub.value, UUID)
        return Snapshot((await service.get_task(sub.value),))
    if sub.key == "trace_id":
        assert isinstance(sub.value, UUID)
        tasks, truncated = await _tasks(service, TaskFilter(trace_id=sub.value), max_tasks)
        return Snapshot(tuple(tasks), truncated, summary=True)
    if sub.value == "agents":
        return Snapshot(tuple(await service.list_agents()))
    if sub.value == "schedules":
        return Snapshot(tuple(await schedules.list()) if schedules is not None else ())
    return await _active_and_recent(service, max_tasks)


async def _active_and_recent(service: OrchestratorService, max_tasks: int) -> Snapshot:
    """Every pending and running task (up to `max_tasks` of each) plus the most recent ones,
    newest first."""
    # pending before running: a task moving on between the two reads is still seen once.
    pending, cut1 = await _tasks(service, TaskFilter(status=TaskStatus.PENDING), max_tasks)
    running, cut2 = await _tasks(service, TaskFilter(status=TaskStatus.RUNNING), max_tasks)
    recent = (await service.list_tasks(TaskFilter(), RECENT_TASKS, None, light=True)).items
    merged: dict[Key, Item] = {}
    for task in (*pending, *running, *recent):
        merged[key(task)] = newest(merged.get(key(task)), task)
    ordered = sorted(merged.values(), key=_created, reverse=True)
    return Snapshot(tuple(ordered), cut1 or cut2, summary=True)


async def _tasks(
    service: OrchestratorService, flt: TaskFilter, max_tasks: int
) -> tuple[list[Task], bool]:
    """Tasks matching `flt`, newest first, in light pages, up to `max_tasks`."""
    items: list[Task] = []
    after = None
    while True:
        size = min(SNAPSHOT_PAGE, max_tasks - len(items))
        page = await service.list_tasks(flt, size, after, light=True)
        items.extend(page.items)
        if page.next_cursor is None:
            return items, False
        if len(items) >= max_tasks:
            return items, True
        after = page.next_cursor


def _created(item: Item) -> tuple[Any, ...]:
    assert isinstance(item, Task)
    return (item.created_at, item.task_id)


def key(item: Item) -> Key:
    if isinstance(item, Schedule):
        return ("schedule", item.schedule_id)
    return ("task", item.task_id) if isinstance(item, Task) else ("agent", item.agent_id)


def version(item: Item) -> tuple[Any, ...]:
    """Orders copies of one task or schedule (by its revision, and nothing else) or agent (by
    its last heartbeat) from older to newer."""
    if isinstance(item, Agent):
        return (item.last_heartbeat_at,)
    return (item.revision,)


def newest(current: Item | None, other: Item) -> Item:
    return other if current is None or version(other) > version(current) else current


def is_covered(item: Item, copy: Item | None) -> bool:
    """Whether `copy` (from a snapshot) already says all that `item` (an event) says."""
    if copy is None:
        return False
    if isinstance(item, Agent):
        # An agent's status can change without a new heartbeat: only identical or older is stale.
        return item == copy or version(item) < version(copy)
    return version(item) <= version(copy)
