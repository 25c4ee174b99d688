"""Nothing accepted is lost between the commit and the publish, even across a restart."""

import asyncio
from collections import Counter

import asyncpg
import pytest

from adapters.amqp.connection import AmqpConnection
from adapters.amqp.work_bus import AmqpWorkBus
from adapters.memory.clock import ManualClock
from adapters.postgres.agent_registry import PostgresAgentRegistry
from adapters.postgres.task_repository import PostgresTaskRepository
from chiffon.commands import DispatchCommand
from chiffon.credentials import ReplicaKey
from chiffon.handlers import HandlerContext, HandlerRegistry
from chiffon.model import TaskStatus
from composition_root import Settings, build_container, wire_orchestrator
from ports.agent_registry import AgentRegistry
from ports.bus import WorkBus
from ports.notifier import EventSource, Notifier
from ports.task_repository import TaskFilter, TaskRepository
from tests.helpers import TEST_KEY, Stack
from tests.history import assert_history_clean

pytestmark = pytest.mark.postgres
N = 20


def wired_on(pool: asyncpg.Pool, **instances: object) -> Stack:
    ports = {"bus": WorkBus, "notifier": Notifier, "events": EventSource}
    container = build_container(
        Settings(demo_agent=False),
        {
            TaskRepository: PostgresTaskRepository(pool),
            AgentRegistry: PostgresAgentRegistry(pool),
            # Both lives share the replicas' key, as replicas on one database do (ADR 0009).
            ReplicaKey: TEST_KEY,
            **{ports[name]: value for name, value in instances.items()},
        },
    )
    return Stack(wire_orchestrator(container), ManualClock())


async def test_rows_committed_before_a_crash_are_sent_once_after_restart(
    pg_pool: asyncpg.Pool,
) -> None:
    # First life: the broker is unreachable, so every publish fails after the commit.
    dead = AmqpConnection("amqp://guest:guest@127.0.0.1:1/", name="dead", max_backoff_s=0.2)
    await dead.start()
    first = wired_on(pg_pool, bus=AmqpWorkBus(dead))
    relay = asyncio.create_task(first.wired.relay.run())
    ids = [(await first.dispatch("echo", parameters={"n": n})).task_id for n in range(N)]
    await asyncio.sleep(0.3)  # the relay tries, fails and backs off
    relay.cancel()  # the process dies here
    await asyncio.gather(relay, return_exceptions=True)
    await dead.close()
    unsent = await pg_pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
    assert unsent == 2 * N  # each task's announcement and its work

    # Second life, same database: the relay sends what was committed, exactly once.
    runs: Counter[str] = Counter()
    handlers = HandlerRegistry()

    @handlers.register("echo")
    async def count(ctx: HandlerContext) -> int:
        runs[str(ctx.task_id)] += 1
        return int(ctx.parameters["n"])

    second = wired_on(pg_pool)
    second.clock.advance(5)  # the first life's rows are now stale: the sweep takes them
    await second.wired.bus.consume_agent_messages(second.wired.tracker.handle)
    relay = asyncio.create_task(second.wired.relay.run())
    try:
        await second.add_agent(handlers, concurrency=4)
        for task_id in ids:
            done = await second.until_status(task_id, TaskStatus.COMPLETED, timeout=5)
            assert done.attempt == 1
        await asyncio.sleep(0.2)  # a duplicate publish would have run by now
        assert runs == Counter({str(i): 1 for i in ids})
        assert await pg_pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0
        wired = second.wired
        await assert_history_clean(wired.tasks, wired.agents, second.clock, 30.0, settled=True)
    finally:
        for runtime, _ in second.agents:
            await runtime.stop(grace_s=0.1)
        relay.cancel()
        await asyncio.gather(relay, return_exceptions=True)
        await second.wired.bus.close()
        await second.broker.close()


async def test_tasks_and_statuses_survive_a_restart(pg_pool: asyncpg.Pool) -> None:
    first = wired_on(pg_pool)
    task = await first.dispatch("echo", parameters={"keep": True})
    cancelled = await first.dispatch("sleep")
    await first.service.cancel(cancelled.task_id)
    again = DispatchCommand(task.task_id, "echo", {"keep": True})

    second = wired_on(pg_pool)  # a new process on the same database
    assert (await second.task(task.task_id)) == task
    assert (await second.task(cancelled.task_id)).status is TaskStatus.CANCELLED
    stored, created = await second.service.dispatch(again)
    assert (created, stored.request_id) == (False, task.request_id)
    page = await second.service.list_tasks(TaskFilter(), 10, None)
    assert {t.task_id for t in page.items} == {task.task_id, cancelled.task_id}
    await assert_history_clean(second.wired.tasks, second.wired.agents, second.clock, 30.0)
