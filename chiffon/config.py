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
    heartbeat_interval_s: float = 2.0
    missed_heartbeats: int = 3  # silent this many intervals: offline, its tasks lost
    # A task stored `running` on a live agent whose heartbeats have not listed it for this
    # long is not at work anywhere (an agent-side fault): its attempt is lost (ADR 0018).
    unlisted_after_s: float = 30.0
    loss_policy: LossPolicy = LossPolicy.RETRY
    loss_policies: Mapping[str, LossPolicy] = attrs.Factory(dict)
    jitter: Callable[[], float] = random.random  # the random part of retries' backoff

    @property
    def offline_after_s(self) -> float:
        return self.heartbeat_interval_s * self.missed_heartbeats

    @property
    def sweep_interval_s(self) -> float:
        """How often silent agents and overdue tasks are looked for."""
        return min(1.0, self.heartbeat_interval_s)

    @property
    def detection_s(self) -> float:
        """The longest a dead agent goes unnoticed: silent past offline_after, seen by the
        next sweep (7 s with the defaults)."""
        return self.offline_after_s + self.sweep_interval_s

    @property
    def audit_limit_s(self) -> float:
        """How long after its last heartbeat a silent agent may still hold running tasks in
        the history checker's eyes: the detection time, plus one more sweep for margin."""
        return self.detection_s + self.sweep_interval_s

    def loss_policy_for(self, work_type: str) -> LossPolicy:
        return self.loss_policies.get(work_type, self.loss_policy)
