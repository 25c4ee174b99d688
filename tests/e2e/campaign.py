"""A seeded fault campaign on the real stack: two orchestrator replicas and three agent
processes on PostgreSQL + RabbitMQ, a mixed workload, and faults drawn from a seed.

`Campaign.run()` dispatches work to a random live replica while a second loop injects faults
(agent kill -9, agent SIGSTOP past its detection time then SIGCONT, replica kill -9 or SIGTERM
and restart, every broker connection closed, the broker's app stopped and started, every
database connection terminated). Then it heals the cluster, waits for every accepted task to
end, and returns what happened so the test can check the histories. The same seed gives the
same workload and the same fault plan (the timing of processes still varies).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any

import aiohttp
import attrs

from tests.amqp_fixtures import close_vhost_connections, rabbitmqctl
from tests.e2e.harness import HEARTBEAT_INTERVAL_S, Cluster, Proc

FAULTS = (
    "agent_kill",
    "agent_pause",
    "replica_kill",
    "replica_term",
    "broker_connections",
    "broker_restart",
    "database_connections",
)
AGENTS = 3
REPLICAS = 2
# Long enough that the orchestrator declares the paused agent dead before it wakes up.
PAUSE_S = 4.0 + 10 * HEARTBEAT_INTERVAL_S


@attrs.define
class Outcome:
    seed: int
    accepted: list[str] = attrs.Factory(list)
    # Dispatches whose answer was lost (the replica died mid-request): maybe stored.
    uncertain: list[str] = attrs.Factory(list)
    faults: Counter[str] = attrs.Factory(Counter)
    cancels: int = 0
    settle_s: float = 0.0
    rows: list[dict[str, Any]] = attrs.Factory(list)


class Campaign:
    def __init__(
        self,
        cluster: Cluster,
        seed: int,
        duration_s: float,
        faults: Sequence[str] = FAULTS,
        log: Any = print,
    ) -> None:
        self.cluster = cluster
        self.rng = random.Random(seed)
        self.fault_rng = random.Random(seed * 7919 + 1)
        self.outcome = Outcome(seed)
        self.duration_s = duration_s
        self.faults = list(faults)
        self.log = log
        self.replicas: list[Proc] = []
        self.agents: list[Proc] = []
        self.paused: set[int] = set()

    # the cluster ----------------------------------------------------------------------------

    async def start(self) -> None:
        for _ in range(REPLICAS):
            self.replicas.append(await self.cluster.start_orchestrator())
        for _ in range(AGENTS):
            self.agents.append(await self.cluster.start_agent(self.replicas[0], concurrency=4))

    def live_replicas(self) -> list[Proc]:
        return [r for r in self.replicas if r.alive]

    async def replace_replica(self, old: Proc) -> None:
        self.replicas.remove(old)
        self.replicas.append(await self.cluster.start_orchestrator())

    async def replace_agent(self, old: Proc) -> None:
        self.agents.remove(old)
        anchor = self.live_replicas()[0]
        self.agents.append(await self.cluster.start_agent(anchor, concurrency=4))

    # the workload ---------------------------------------------------------------------------

    def body(self) -> dict[str, Any]:
        rng = self.rng
        kind = rng.choices(
            ["echo", "sleep", "retried_fail", "timeout", "delayed", "retried_sleep"],
            weights=[4, 4, 1, 1, 1, 2],
        )[0]
        body: dict[str, Any] = {"task_id": str(uuid.uuid4()), "priority": rng.randint(1, 5)}
        if kind == "echo":
            body.update(work_type="echo", parameters={"n": rng.randint(0, 10**6)})
        elif kind == "sleep":
            body.update(work_type="sleep", parameters={"seconds": round(rng.uniform(0.05, 1.5), 2)})
        elif kind == "retried_fail":
            body.update(
                work_type="fail",
                parameters={"message": "planned"},
                retry={"max_attempts": 2, "on": ["failed", "lost"], "backoff_s": 0.2},
            )
        elif kind == "timeout":
            body.update(work_type="sleep", parameters={"seconds": 3}, timeout_s=0.5)
        elif kind == "delayed":
            body.update(work_type="echo", parameters={}, delay_s=round(rng.uniform(0.5, 4), 1))
        else:
            body.update(
                work_type="sleep",
                parameters={"seconds": round(rng.uniform(0.5, 2.5), 2)},
                retry={"max_attempts": 5, "on": ["lost", "timed_out"], "backoff_s": 0.1},
            )
        return body

    async def dispatch(self, body: dict[str, Any]) -> None:
        replicas = self.live_replicas()
        if not replicas:
            return
        replica = self.rng.choice(replicas)
        url = f"{replica.url}/api/v1/dispatch"
        try:
            async with self.cluster.http.post(
                url, json=body, timeout=aiohttp.ClientTimeout(total=5)
            ) as r:
                if r.status == 200:
                    self.outcome.accepted.append(body["task_id"])
                elif r.status not in (503,):  # the store or the bus is away: refused whole
                    raise AssertionError(f"dispatch answered {r.status}: {await r.text()}")
        except (aiohttp.ClientError, TimeoutError):
            self.outcome.uncertain.append(body["task_id"])

    async def cancel_one(self) -> None:
        replicas = self.live_replicas()
        if not self.outcome.accepted or not replicas:
            return
        task_id = self.rng.choice(self.outcome.accepted[-50:])
        url = f"{self.rng.choice(replicas).url}/api/v1/cancel/{task_id}"
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with self.cluster.http.post(url, timeout=aiohttp.ClientTimeout(total=5)) as r:
                # 200 cancelled or asked; 400/2002 already finished; 503 the store is away.
                answer = await r.json()
                assert r.status in (200, 503) or answer["error_code"] == 2002, answer
                self.outcome.cancels += r.status == 200

    async def workload(self, until: float) -> None:
        while time.monotonic() < until:
            for _ in range(self.rng.randint(2, 6)):
                await self.dispatch(self.body())
            if self.rng.random() < 0.15:
                await self.cancel_one()
            await asyncio.sleep(0.2)

    # the faults -----------------------------------------------------------------------------

    async def inject(self, fault: str) -> None:
        rng = self.fault_rng
        self.outcome.faults[fault] += 1
        self.log(f"campaign: fault {fault}")
        if fault == "agent_kill":
            victim = rng.choice(self.agents)
            await victim.kill()
            await self.replace_agent(victim)
        elif fault == "agent_pause":
            victim = rng.choice([a for a in self.agents if a.pid not in self.paused])
            self.paused.add(victim.pid)
            victim.send(signal.SIGSTOP)
            asyncio.get_running_loop().call_later(PAUSE_S, self._resume, victim)
        elif fault in ("replica_kill", "replica_term"):
            victim = rng.choice(self.live_replicas())
            if fault == "replica_kill":
                await victim.kill()
            else:
                victim.send(signal.SIGTERM)
                await victim.wait_exit(timeout=30)
            await self.replace_replica(victim)
        elif fault == "broker_connections":
            await close_vhost_connections(self.cluster.vhost)
        elif fault == "broker_restart":
            try:
                await asyncio.to_thread(rabbitmqctl, "stop_app")
                await asyncio.sleep(rng.uniform(1, 3))
            finally:
                await restart_broker_app()
        elif fault == "database_connections":
            db = await self.cluster.db()
            await db.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        else:
            raise ValueError(f"unknown fault {fault!r}")

    def _resume(self, victim: Proc) -> None:
        self.paused.discard(victim.pid)
        victim.send(signal.SIGCONT)

    async def fault_plan(self, until: float) -> None:
        await asyncio.sleep(2.0)
        while time.monotonic() < until - 3:
            await self.inject(self.fault_rng.choice(self.faults))
            await asyncio.sleep(self.fault_rng.uniform(2.0, 5.0))

    # the run --------------------------------------------------------------------------------

    async def run(self, settle_timeout_s: float = 120.0) -> Outcome:
        await self.start()
        until = time.monotonic() + self.duration_s
        try:
            await asyncio.gather(self.workload(until), self.fault_plan(until))
        finally:
            for agent in self.agents:  # nothing stays frozen past the faults
                if agent.pid in self.paused:
                    self._resume(agent)
        settled = time.monotonic()
        ids = self.outcome.accepted
        self.outcome.rows = await self.cluster.wait_finished(
            ids, timeout=settle_timeout_s, alive=self.live_replicas()
        )
        self.outcome.settle_s = time.monotonic() - settled
        # A dispatch whose answer was lost was stored whole or not at all; if stored, it ends too.
        stored = [r["task_id"] for r in await self.cluster.tasks(self.outcome.uncertain)]
        if stored:
            self.outcome.rows += await self.cluster.wait_finished(
                stored, timeout=settle_timeout_s, alive=self.live_replicas()
            )
        return self.outcome


async def restart_broker_app() -> None:
    """Start RabbitMQ's app again and wait until it serves (idempotent)."""
    await asyncio.to_thread(rabbitmqctl, "start_app")
    await asyncio.to_thread(rabbitmqctl, "await_startup", timeout_s=120)
