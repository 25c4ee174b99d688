"""The broker as a boundary: which agents' messages the orchestrator acts on at all. Every
agent shares the broker login, so a message proves itself: a status or result carries its
attempt's lease token, a heartbeat or goodbye the key its agent_id comes from, and the
number of distinct agent and work types stays bounded. Every refusal is counted (metrics)
and logged, at most once a minute per reason with the count since."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Final

from chiffon.credentials import ReplicaKey, is_agent
from chiffon.model import AgentMessage, Heartbeat
from ports.observer import ChangeObserver

log = logging.getLogger(__name__)

MAX_AGENT_TYPES: Final = 100
MAX_WORK_TYPES: Final = 1000
LOG_EVERY_S: Final = 60.0

NO_LEASE: Final = "no_lease"  # a status or result without its attempt's lease token
NOT_THE_AGENT: Final = "not_the_agent"  # a heartbeat or goodbye without its agent's key
TOO_MANY_AGENT_TYPES: Final = "too_many_agent_types"
TOO_MANY_WORK_TYPES: Final = "too_many_work_types"
REASONS: Final = (NO_LEASE, NOT_THE_AGENT, TOO_MANY_AGENT_TYPES, TOO_MANY_WORK_TYPES)


class ReportGate:
    def __init__(
        self,
        key: ReplicaKey,
        observer: ChangeObserver,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._key = key
        self._observer = observer
        self._clock = clock
        self._agent_types: set[str] = set()
        self._work_types: set[str] = set()
        self.refused: dict[str, int] = dict.fromkeys(REASONS, 0)
        self._unlogged: dict[str, int] = dict.fromkeys(REASONS, 0)
        self._logged_at: dict[str, float] = {}

    def admit(self, message: AgentMessage) -> bool:
        """True when `message` may be acted on; otherwise it was counted and logged."""
        if isinstance(message, Heartbeat):
            return self._beat_admitted(message)
        if self._key.holds_lease(message.task_id, message.attempt, message.lease):
            return True
        return self._refuse(NO_LEASE, f"task {message.task_id} attempt {message.attempt}")

    def _beat_admitted(self, beat: Heartbeat) -> bool:
        if not is_agent(beat.agent_id, beat.agent_key):
            return self._refuse(NOT_THE_AGENT, f"agent {beat.agent_id}")
        if beat.agent_type not in self._agent_types:
            if len(self._agent_types) >= MAX_AGENT_TYPES:
                return self._refuse(TOO_MANY_AGENT_TYPES, f"limit {MAX_AGENT_TYPES}")
            self._agent_types.add(beat.agent_type)
        new = set(beat.capabilities) - self._work_types
        if new:
            if len(self._work_types) + len(new) > MAX_WORK_TYPES:
                return self._refuse(TOO_MANY_WORK_TYPES, f"limit {MAX_WORK_TYPES}")
            self._work_types |= new
        return True

    def _refuse(self, reason: str, about: str) -> bool:
        self.refused[reason] += 1
        self._observer.refused(reason)
        self._unlogged[reason] += 1
        now = self._clock()
        if now - self._logged_at.get(reason, float("-inf")) >= LOG_EVERY_S:
            self._logged_at[reason] = now
            count, self._unlogged[reason] = self._unlogged[reason], 0
            log.warning("refused %d agent message(s): %s (last: %s)", count, reason, about)
        return False
