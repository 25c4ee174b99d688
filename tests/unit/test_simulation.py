"""The deterministic simulation: seeded faulty worlds on virtual time end with 0 violations.

A fixed set of seeds, plus one random seed printed in the session header (and in the test's
id); a failing seed says the one command that replays its world (CHIFFON_SIM_SEED=N reruns
the test with N as its random seed). CHIFFON_TEST_THOROUGH=1 runs larger worlds.
"""

from __future__ import annotations

import os

import pytest

from adapters.memory.simulation import (
    SimulationPlan,
    describe,
    run_simulation,
    simulate_command,
)
from composition_root import wire_simulated_replica as wire
from tests.simulation_seed import RANDOM_SEED

THOROUGH = os.environ.get("CHIFFON_TEST_THOROUGH") == "1"
TASKS = 2000 if THOROUGH else 150
FIXED_SEEDS = [1, 2, 3, 18, 2026] + (list(range(100, 110)) if THOROUGH else [])


@pytest.mark.parametrize("seed", [*FIXED_SEEDS, RANDOM_SEED])
def test_a_seeded_faulty_world_keeps_every_promise(seed: int) -> None:
    report = run_simulation(SimulationPlan(seed=seed, tasks=TASKS), wire)
    replay = f"chiffon simulate --seed {seed} --tasks {TASKS}"
    assert report.ok, "\n".join([*describe(report), f"replay: {replay}"])
    assert report.tasks == TASKS and sum(report.statuses.values()) == TASKS
    # The world was faulty: agents crashed, beats paused, the orchestrator restarted.
    assert report.faults["agent_crashed"] >= 1 and report.faults["orchestrator_restarted"] == 1
    assert report.faults["heartbeats_paused"] >= 1 and report.faults["clock_jumped"] >= 1


def test_one_seed_is_one_world() -> None:
    first, again = (run_simulation(SimulationPlan(seed=5, tasks=60), wire) for _ in range(2))
    assert (first.statuses, first.faults, first.virtual_s) == (
        again.statuses,
        again.faults,
        again.virtual_s,
    )
    other = run_simulation(SimulationPlan(seed=6, tasks=60), wire)
    assert (other.statuses, other.faults) != (first.statuses, first.faults)


def test_the_command_prints_the_seed_and_counts_and_exits_0() -> None:
    lines: list[str] = []
    code = simulate_command({"seed": 11, "tasks": 60, "agents": 2}, wire, lines.append)
    assert code == 0, lines
    assert lines[0] == "simulating seed 11: 60 tasks, 2 agents"
    assert any(line.startswith("seed 11: 60 tasks (") for line in lines)
    assert lines[-1] == "0 violations"


def test_without_faults_the_world_makes_none() -> None:
    lines: list[str] = []
    assert simulate_command({"seed": 12, "tasks": 40, "faults": False}, wire, lines.append) == 0
    assert "faults: none" in lines


def test_bad_sizes_are_refused() -> None:
    lines: list[str] = []
    assert simulate_command({"seed": 1, "tasks": 0}, wire, lines.append) == 2
    assert lines == ["chiffon: --tasks and --agents must be at least 1"]
