"""The random seed of this test run's extra simulation (printed in the session header, so a
failing run can be replayed)."""

from __future__ import annotations

import os
import random

# CHIFFON_SIM_SEED=N replays a given seed as the run's random one.
RANDOM_SEED = int(os.environ.get("CHIFFON_SIM_SEED") or random.SystemRandom().randrange(1_000_000))
