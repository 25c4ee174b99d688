"""Retention in the stores: finished tasks go in batches, oldest first, with their timelines
and outbox rows; unfinished ones stay; offline agents are forgotten; on memory and PostgreSQL."""

from __future__ import annotations

import asyncio
from uuid import UUID

import asyncpg
import pytest

from adapters.memory.task_repository import InMemoryTaskRepository
from adapters.postgres.task_repository import PostgresTaskRepository
from chiffon.changes import dispatched
from chiffon.model import AgentStatus, TaskStatus
from ports.agent_registry import AgentRegistry
from ports.task_repository import TaskFilter, TaskRepository
from tests.contract.store.builders import at, make_agent, make_task, work_message

S = TaskStatus


async def store_finished(repo: TaskRepository, n: int, ended_s: float) -> list[UUID]:
    ids = []
    for i in range(n):
        task = make_task(i, status=S.COMPLETED, finished_at=at(ended_s + i))
        await repo.create(task, dispatched(task), [work_message(task)])
        ids.append(task.task_id)
    return ids


async def test_finished_tasks_go_oldest_first_in_batches(repo: TaskRepository) -> None:
    old = await store_finished(repo, 5, ended_s=0)
    recent = await store_finished(repo, 2, ended_s=1000)
    pending = make_task(3)
    await repo.create(pending, dispatched(pending), [])
    assert await repo.delete_finished(at(500), limit=3) == 3
    assert [await repo.get(t) for t in old[:3]] == [None] * 3
    assert await repo.events(old[0]) == []
    assert await repo.delete_finished(at(500), limit=3) == 2
    assert await repo.delete_finished(at(500), limit=3) == 0
    for kept in (*recent, pending.task_id):
        assert await repo.get(kept) is not None
    counts = await repo.counts()
    assert counts.tasks_by_status[S.COMPLETED] == 2 and counts.outbox_unsent == 2


@pytest.mark.postgres
async def test_one_replica_deletes_at_a_time(pg_pool: asyncpg.Pool) -> None:
    a, b = PostgresTaskRepository(pg_pool), PostgresTaskRepository(pg_pool)
    await store_finished(a, 20, ended_s=0)
    results = await asyncio.gather(*(r.delete_finished(at(500), 50) for r in (a, b, a, b)))
    assert sum(results) == 20 and results.count(20) + results.count(0) == 4


async def test_memory_keeps_at_most_max_finished() -> None:
    repo = InMemoryTaskRepository(max_finished=3)
    ids = await store_finished(repo, 5, ended_s=0)
    kept = [await repo.get(t) is not None for t in ids]
    assert kept == [False, False, True, True, True]  # the oldest finished go first
    assert len((await repo.page(TaskFilter(), 10, None)).items) == 3


async def test_offline_agents_are_forgotten_after_a_while(registry: AgentRegistry) -> None:
    gone = make_agent(heard_s=0, status=AgentStatus.OFFLINE)
    online = make_agent(heard_s=0)
    recent = make_agent(heard_s=900, status=AgentStatus.OFFLINE)
    for agent in (gone, online, recent):
        await registry.record(agent)
    assert await registry.forget_offline(at(500), limit=10) == 1
    assert {a.agent_id for a in await registry.find()} == {online.agent_id, recent.agent_id}
