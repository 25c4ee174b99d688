"""The seeded fault campaign (tests/e2e/campaign.py) as a test: about a minute by default.

    CHIFFON_CAMPAIGN_SEED=1234 CHIFFON_CAMPAIGN_SECONDS=600 \\
        .venv/bin/pytest -p no:cacheprovider -s tests/e2e/test_campaign.py     # a long run

CHIFFON_CAMPAIGN_FAULTS=agent_kill,agent_pause narrows the faults (names in campaign.FAULTS).
The seed is printed first, and again in the failure message with the command that reruns it.
"""

from __future__ import annotations

import os
import random
from collections import Counter

import pytest

from tests.e2e.campaign import FAULTS, Campaign, restart_broker_app
from tests.e2e.harness import Cluster
from tests.e2e.timelines import TERMINAL, history_violations

pytestmark = pytest.mark.e2e


def _settings() -> tuple[int, float, list[str]]:
    seed = int(os.environ.get("CHIFFON_CAMPAIGN_SEED") or random.randrange(1, 10**6))
    seconds = float(os.environ.get("CHIFFON_CAMPAIGN_SECONDS") or 40)
    names = os.environ.get("CHIFFON_CAMPAIGN_FAULTS")
    faults = names.split(",") if names else list(FAULTS)
    unknown = set(faults) - set(FAULTS)
    assert not unknown, f"unknown faults {unknown}; known: {FAULTS}"
    return seed, seconds, faults


async def test_a_seeded_campaign_of_faults_ends_every_task_once(cluster: Cluster) -> None:
    seed, seconds, faults = _settings()
    rerun = (
        f"CHIFFON_CAMPAIGN_SEED={seed} CHIFFON_CAMPAIGN_SECONDS={seconds:g} "
        ".venv/bin/pytest -p no:cacheprovider -s tests/e2e/test_campaign.py"
    )
    print(f"\ncampaign seed {seed}, {seconds:g} s, faults {','.join(faults)}; rerun: {rerun}")
    campaign = Campaign(cluster, seed, seconds, faults)
    try:
        outcome = await campaign.run()
    finally:
        if "broker_restart" in faults:
            await restart_broker_app()  # never leave the broker stopped for the next test

    rows = outcome.rows
    print(
        f"campaign seed {seed}: {len(outcome.accepted)} accepted, "
        f"{len(outcome.uncertain)} answers lost, faults {dict(outcome.faults)}, "
        f"{outcome.cancels} cancels, settled in {outcome.settle_s:.1f} s, "
        f"ends {dict(Counter(r['status'] for r in rows))}"
    )
    assert len(outcome.accepted) >= 100, f"only {len(outcome.accepted)} tasks were accepted"
    assert sum(outcome.faults.values()) >= 3, outcome.faults
    # Nothing lost, nothing stored twice.
    assert len({r["task_id"] for r in rows}) == len(rows)
    assert all(r["status"] in TERMINAL for r in rows)
    # Each history ends exactly once and stays ended; read through a live replica.
    replica = campaign.live_replicas()[0]
    violations: list[str] = []
    example = ""
    for row in rows:
        events = await cluster.timeline(replica, row["task_id"])
        found = history_violations(row["task_id"], events, row["status"])
        if found and not example:
            example = "\n".join(
                f"  r{e['revision']} {e['kind']} {e['status']} {e['changes']}" for e in events
            )
        violations += found
    assert not violations, (
        f"seed {seed} ({rerun}):\n" + "\n".join(violations[:30]) + "\nthe first:\n" + example
    )
