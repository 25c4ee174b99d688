"""The orchestrator's tunables, as the domain sees them."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping

import attrs

from chiffon.model import LossPolicy
from chiffon.routing import RoutingTable

MAX_PARAMETERS_BYTES = 256 * 1024
MAX_OUTPUT_CHARS = 64 * 1024
MAX_TIMEOUT_S = 30 * 24 * 3600.0  # a task may be given at most 30 days
MAX_WORK_TYPE_CHARS = 200


@attrs.frozen
class OrchestratorConfig:
    routing: RoutingTable = attrs.Factory(RoutingTable)
    heartbeat_interval_s: float = 30.0
    missed_heartbeats: int = 3
    loss_policy: LossPolicy = LossPolicy.RETRY
    loss_policies: Mapping[str, LossPolicy] = attrs.Factory(dict)
    jitter: Callable[[], float] = random.random  # the random part of retries' backoff

    @property
    def offline_after_s(self) -> float:
        return self.heartbeat_interval_s * self.missed_heartbeats

    @property
    def loss_detection_s(self) -> float:
        """How long after its last heartbeat a silent agent's tasks may still show `running`:
        its missed beats, then a sweep (every min(1 s, interval)) that notices, once more for
        margin. The history checker's limit."""
        return self.offline_after_s + 2 * min(1.0, self.heartbeat_interval_s)

    def loss_policy_for(self, work_type: str) -> LossPolicy:
        return self.loss_policies.get(work_type, self.loss_policy)
