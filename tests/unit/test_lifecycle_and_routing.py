import pytest

from chiffon import lifecycle
from chiffon.model import TaskStatus as S
from chiffon.routing import DEFAULT_ROUTES, RoutingTable


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (S.PENDING, S.RUNNING),
        (S.PENDING, S.CANCELLED),
        (S.PENDING, S.TIMED_OUT),
        (S.RUNNING, S.COMPLETED),
        (S.RUNNING, S.FAILED),
        (S.RUNNING, S.CANCELLED),
        (S.RUNNING, S.TIMED_OUT),
        (S.RUNNING, S.PENDING),
    ],
)
def test_allowed_transitions(source: S, target: S) -> None:
    assert lifecycle.can_move(source, target)


@pytest.mark.parametrize("terminal", sorted(lifecycle.TERMINAL))
def test_terminal_states_never_move(terminal: S) -> None:
    assert lifecycle.is_terminal(terminal)
    assert not any(lifecycle.can_move(terminal, target) for target in S)


def test_pending_cannot_complete_without_running() -> None:
    assert not lifecycle.can_move(S.PENDING, S.COMPLETED)
    # pending -> failed: only for work that can never be sent (the relay gives it up)
    assert lifecycle.sources_of(S.FAILED) == {S.PENDING, S.RUNNING}
    assert lifecycle.sources_of(S.COMPLETED) == {S.RUNNING}
    assert lifecycle.sources_of(S.CANCELLED) == {S.PENDING, S.RUNNING}


def test_default_routes_follow_the_design() -> None:
    table = RoutingTable()
    assert table.lookup("ansible") == "infra"
    assert table.lookup("gpu_status") == "desktop"
    assert table.lookup("code_review") == "code"
    assert table.lookup("research") == "research"
    assert {table.lookup(w) for w in ("echo", "sleep", "fail")} == {"demo"}
    assert table.lookup("unknown") is None


def test_advertised_capabilities_extend_but_never_override_the_table() -> None:
    table = RoutingTable()
    advertised = [("gpu", "render"), ("gpu", "echo")]
    assert table.lookup("render", advertised) == "gpu"
    assert table.lookup("echo", advertised) == "demo"


def test_parse_extends_the_default_table() -> None:
    table = RoutingTable.parse("render=gpu, echo=other")
    assert table.lookup("render") == "gpu"
    assert table.lookup("echo") == "other"
    assert len(table.routes) == len(DEFAULT_ROUTES) + 1


@pytest.mark.parametrize("spec", ["render", "=gpu", "render="])
def test_parse_refuses_malformed_routes(spec: str) -> None:
    with pytest.raises(ValueError, match="expected work_type=agent_type"):
        RoutingTable.parse(spec)
