"""Session-wide test settings.

Some machines (this project's among them) set PYTHONDONTWRITEBYTECODE: then every run compiles
every module again and pytest rewrites every test module's asserts again, about 8 s of CPU per
run of the quick suite. The tests keep their bytecode in __pycache__ (ignored by git).
"""

from __future__ import annotations

import os
import random
import sys

import pytest

sys.dont_write_bytecode = False


def pytest_configure(config: pytest.Config) -> None:
    # One random simulation seed per run, chosen before xdist starts its workers (they inherit
    # the environment), so every worker collects the same test ids.
    os.environ.setdefault("CHIFFON_SIM_SEED", str(random.SystemRandom().randrange(1_000_000)))


def pytest_report_header() -> str:
    from tests.simulation_seed import RANDOM_SEED

    return f"simulation random seed: {RANDOM_SEED} (replay: chiffon simulate --seed {RANDOM_SEED})"
