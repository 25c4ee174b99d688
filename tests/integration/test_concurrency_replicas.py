"""Concurrency limits across replicas: two orchestrators wired on one PostgreSQL database
(one in-memory broker between them and the agents) take a burst of keyed dispatches; the
agents never run more than max_running of a key at once, every task completes, and the
history checker (its concurrency rule included) finds nothing."""

from __future__ import annotations

import asyncio
from collections import Counter
from contextlib import AsyncExitStack
from uuid import UUID

import asyncpg
import pytest

from adapters.memory.broker import InMemoryBroker
from adapters.postgres.agent_registry import PostgresAgentRegistry
from adapters.postgres.task_repository import PostgresTaskRepository
from adapters.system.clock import SystemClock
from chiffon.concurrency import ConcurrencyLimit
from chiffon.credentials import ReplicaKey
from chiffon.handlers import HandlerContext, HandlerRegistry
from chiffon.model import TaskStatus
from composition_root import Settings, build_container, wire_orchestrator
from ports.agent_registry import AgentRegistry
from ports.task_repository import TaskRepository
from tests.helpers import TEST_KEY, Stack
from tests.history import assert_history_clean

pytestmark = pytest.mark.postgres
PER_KEY = 12
LIMITS = {"db-1": 1, "db-2": 2}


def replica(pool: asyncpg.Pool, broker: InMemoryBroker) -> Stack:
    container = build_container(
        Settings(demo_agent=False),
        {
            TaskRepository: PostgresTaskRepository(pool),
            AgentRegistry: PostgresAgentRegistry(pool),
            ReplicaKey: TEST_KEY,  # replicas on one database share it (ADR 0009)
            InMemoryBroker: broker,
        },
    )
    stack = Stack(wire_orchestrator(container), SystemClock())  # type: ignore[arg-type]
    return stack


async def test_the_cap_holds_across_two_replicas(pg_pool: asyncpg.Pool) -> None:
    broker = InMemoryBroker()
    running: Counter[str] = Counter()
    most: Counter[str] = Counter()
    handlers = HandlerRegistry()

    full = {key: asyncio.Event() for key in LIMITS}

    @handlers.register("echo")
    async def backup(ctx: HandlerContext) -> str:
        key = str(ctx.parameters["key"])
        running[key] += 1
        most[key] = max(most[key], running[key])
        if running[key] >= LIMITS[key]:
            full[key].set()
        try:  # the first runs of a key wait for the others its limit allows (not for more)
            async with asyncio.timeout(2):
                await full[key].wait()
        except TimeoutError:
            pass
        finally:
            running[key] -= 1
        return key

    replicas = [replica(pg_pool, broker), replica(pg_pool, broker)]
    async with AsyncExitStack() as stack:
        for r in replicas:
            await r.wired.bus.consume_agent_messages(r.wired.tracker.handle)
            relay = asyncio.create_task(r.wired.relay.run())
            stack.callback(relay.cancel)
            stack.push_async_callback(r.wired.bus.close)
        await replicas[0].add_agent(handlers, concurrency=4)
        await replicas[1].add_agent(handlers, concurrency=4)
        for runtime, _ in replicas[0].agents + replicas[1].agents:
            stack.push_async_callback(runtime.stop, 0.1)

        async def burst(n: int) -> UUID:
            key = "db-1" if n % 2 else "db-2"
            limit = ConcurrencyLimit(key, LIMITS[key])
            r = replicas[(n // 2) % 2]  # both replicas take both keys
            task = await r.dispatch(
                "echo", parameters={"key": key}, concurrency=limit, priority=1 + n % 5
            )
            return task.task_id

        ids = await asyncio.gather(*(burst(n) for n in range(2 * PER_KEY)))
        for n, task_id in enumerate(ids):
            done = await replicas[n % 2].until_status(task_id, TaskStatus.COMPLETED, timeout=20)
            assert done.admitted_at is not None
        assert most == Counter({"db-1": 1, "db-2": 2})  # the cap, and reached
        wired = replicas[1].wired
        report = await assert_history_clean(
            wired.tasks, wired.agents, SystemClock(), 30.0, settled=True
        )
        assert report.tasks_checked == 2 * PER_KEY
    await broker.close()
