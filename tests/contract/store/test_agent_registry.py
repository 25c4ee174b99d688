"""Contract of AgentRegistry: the same suite over the in-memory twin and PostgreSQL."""

from __future__ import annotations

from uuid import UUID, uuid4

import attrs

from chiffon.model import AgentStatus
from ports.agent_registry import AgentRegistry
from tests.contract.store.builders import at, make_agent


async def test_record_round_trips_and_returns_copies(registry: AgentRegistry) -> None:
    agent = make_agent()
    assert await registry.record(agent) == agent
    fetched = await registry.get(agent.agent_id)
    assert fetched == agent
    assert fetched is not None
    fetched.resources["cpu_percent"] = 99.0
    assert await registry.get(agent.agent_id) == agent


async def test_record_is_an_upsert(registry: AgentRegistry) -> None:
    agent = make_agent()
    await registry.record(agent)
    beat = attrs.evolve(
        agent,
        status=AgentStatus.BUSY,
        capabilities=("echo",),
        running_tasks=(),
        resources={},
        last_heartbeat_at=at(30),
    )
    assert await registry.record(beat) == beat
    assert await registry.get(agent.agent_id) == beat
    assert await registry.find() == [beat]


async def test_get_missing_returns_none(registry: AgentRegistry) -> None:
    assert await registry.get(uuid4()) is None


async def test_find_filters_and_orders_by_type_then_id(registry: AgentRegistry) -> None:
    agents = [
        make_agent("infra"),
        make_agent("demo", status=AgentStatus.BUSY),
        make_agent("infra", status=AgentStatus.OFFLINE),
        make_agent("code"),
        make_agent("demo"),
    ]
    for agent in agents:
        await registry.record(agent)

    def ordered(*indexes: int) -> list[UUID]:
        chosen = sorted((agents[i] for i in indexes), key=lambda a: (a.agent_type, a.agent_id))
        return [a.agent_id for a in chosen]

    async def ids(agent_type: str | None = None, status: AgentStatus | None = None) -> list[UUID]:
        return [a.agent_id for a in await registry.find(agent_type, status)]

    assert await ids() == ordered(0, 1, 2, 3, 4)
    assert await ids("infra") == ordered(0, 2)
    assert await ids(status=AgentStatus.ONLINE) == ordered(0, 3, 4)
    assert await ids("demo", AgentStatus.BUSY) == ordered(1)
    assert await ids("research") == []


async def test_mark_offline_reports_only_the_change(registry: AgentRegistry) -> None:
    agent = make_agent()
    await registry.record(agent)
    gone = attrs.evolve(agent, status=AgentStatus.OFFLINE, running_tasks=())  # runs nothing now
    assert await registry.mark_offline(agent.agent_id) == gone
    assert await registry.mark_offline(agent.agent_id) is None
    assert await registry.get(agent.agent_id) == gone
    assert await registry.mark_offline(uuid4()) is None


async def test_mark_stale_offline_returns_exactly_what_it_changed(registry: AgentRegistry) -> None:
    stale = make_agent("infra", heard_s=0)
    stale_busy = make_agent("demo", heard_s=5, status=AgentStatus.BUSY)
    already_offline = make_agent("demo", heard_s=0, status=AgentStatus.OFFLINE)
    fresh = make_agent("demo", heard_s=10)
    for agent in (stale, stale_busy, already_offline, fresh):
        await registry.record(agent)
    changed = await registry.mark_stale_offline(at(10))
    expected = [
        attrs.evolve(a, status=AgentStatus.OFFLINE, running_tasks=()) for a in (stale, stale_busy)
    ]
    key = lambda a: a.agent_id  # noqa: E731
    assert sorted(changed, key=key) == sorted(expected, key=key)
    assert await registry.get(fresh.agent_id) == fresh
    assert await registry.get(already_offline.agent_id) == already_offline
    assert await registry.mark_stale_offline(at(10)) == []


async def test_advertised_routes_come_from_live_agents(registry: AgentRegistry) -> None:
    await registry.record(make_agent("infra", capabilities=("ansible", "docker")))
    await registry.record(make_agent("demo", capabilities=("echo",), status=AgentStatus.BUSY))
    await registry.record(make_agent("gpu", capabilities=("train",), status=AgentStatus.OFFLINE))
    await registry.record(make_agent("code", capabilities=()))
    routes = await registry.advertised_routes()
    assert sorted(routes) == [("demo", "echo"), ("infra", "ansible"), ("infra", "docker")]
