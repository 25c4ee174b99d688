"""The report gate on its own: the bounds on distinct agent and work types, and refusals
counted every time but logged at most once a minute per reason."""

from __future__ import annotations

import pytest

from adapters.http.metrics.observer import MetricsObserver
from adapters.http.metrics.registry import ChiffonMetrics
from chiffon.credentials import ReplicaKey, agent_id_for, is_agent, new_agent_key
from chiffon.model import AgentStatus, Heartbeat
from chiffon.report_gate import MAX_AGENT_TYPES, MAX_WORK_TYPES, ReportGate
from tests.helpers import TEST_KEY, new_agent


def refused(metrics: ChiffonMetrics, reason: str) -> float:
    value = metrics.registry.get_sample_value(
        "chiffon_agent_messages_refused_total", {"reason": reason}
    )
    return value or 0.0


def beat(agent_type: str, capabilities: tuple[str, ...] = ()) -> Heartbeat:
    agent_id, key = new_agent()
    return Heartbeat(agent_id, agent_type, AgentStatus.ONLINE, capabilities, 1, (), {}, False, key)


def test_agent_types_past_the_bound_are_refused_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    metrics = ChiffonMetrics()
    gate = ReportGate(TEST_KEY, MetricsObserver(metrics), clock=lambda: now[0])
    assert all(gate.admit(beat(f"type-{i}")) for i in range(MAX_AGENT_TYPES))
    assert gate.admit(beat("type-0"))  # a known type is still welcome
    assert not any(gate.admit(beat(f"more-{i}")) for i in range(50))
    assert refused(metrics, "too_many_agent_types") == 50
    lines = [r for r in caplog.records if "too_many_agent_types" in r.getMessage()]
    assert len(lines) == 1
    now[0] += 61
    assert not gate.admit(beat("one-more"))
    lines = [r.getMessage() for r in caplog.records if "too_many_agent_types" in r.getMessage()]
    assert len(lines) == 2 and lines[1].startswith("refused 50 agent message(s)")  # 49 + 1


def test_work_types_past_the_bound_are_refused() -> None:
    gate = ReportGate(TEST_KEY, MetricsObserver(ChiffonMetrics()))
    first = tuple(f"w{i}" for i in range(MAX_WORK_TYPES - 1))
    assert gate.admit(beat("a", first))
    assert not gate.admit(beat("a", ("x", "y")))  # two new: one too many
    assert gate.admit(beat("a", ("x", *first[:10])))
    assert gate.refused["too_many_work_types"] == 1


def test_an_agent_id_comes_from_its_key_and_a_lease_from_the_replicas_key() -> None:
    key = new_agent_key()
    assert is_agent(agent_id_for(key), key) and not is_agent(agent_id_for(key), key + "x")
    assert agent_id_for(key).version == 4 and agent_id_for(key) == agent_id_for(key)
    task_id = agent_id_for(new_agent_key())
    token = TEST_KEY.lease(task_id, 1)
    assert TEST_KEY.holds_lease(task_id, 1, token)
    assert not TEST_KEY.holds_lease(task_id, 2, token)
    assert not ReplicaKey(b"another key, as long as needed").holds_lease(task_id, 1, token)
    assert not TEST_KEY.holds_lease(task_id, 1, "")
    with pytest.raises(ValueError):
        ReplicaKey(b"short")
