"""Deterministic simulation: a whole memory-mode world (orchestrator, agents, bus, store) on a
virtual clock, under seeded faults, ending with the history checker.

One seed names one run: the workload (thousands of tasks with retries, delays, timeouts and
cancels) and every fault (messages dropped, duplicated, delayed and so reordered; agents
crashed mid-task; heartbeats paused past the detection time; store writes failed; the
orchestrator crashed and restarted over the same store; the wall clock jumped). Virtual time
jumps over every wait, so a run of minutes of virtual time takes seconds. `chiffon simulate`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from uuid import UUID

import attrs

from adapters.memory.agent_registry import InMemoryAgentRegistry
from adapters.memory.broker import InMemoryBroker
from adapters.memory.bus import InMemoryAgentBus, InMemoryWorkBus
from adapters.memory.clock import LoopClock, SeededIds
from adapters.memory.faults import (
    FaultDice,
    FaultRates,
    FaultyAgentBus,
    FaultyWorkBus,
    FlakyTaskRepository,
)
from adapters.memory.virtual_loop import VirtualTimeLoop
from chiffon.agent import AgentRuntime
from chiffon.audit import Violation
from chiffon.auditor import Auditor
from chiffon.commands import DispatchCommand, RetryRequest
from chiffon.concurrency import ConcurrencyLimit
from chiffon.config import OrchestratorConfig
from chiffon.credentials import AgentIdentity, ReplicaKey, agent_id_for
from chiffon.demo_handlers import demo
from chiffon.errors import ChiffonError
from chiffon.lifecycle import TERMINAL
from chiffon.model import JsonObject, RetryOn
from chiffon.orchestrator import OrchestratorService
from chiffon.relay import OutboxRelay
from chiffon.sweeper import Sweeper
from chiffon.tracking import AgentMessageTracker
from ports.agent_registry import AgentRegistry
from ports.bus import WorkBus
from ports.clock import Clock, IdFactory
from ports.task_repository import TaskRepository

Say = Callable[[str], None]
AGENT_TYPE = "demo"
KEY_LIMITS = {"db-1": 1, "db-2": 2, "db-3": 3}  # concurrency keys of a fifth of the tasks
NO_FAULTS = FaultRates(drop=0, duplicate=0, delay=0, store_write=0, publish=0, connection_drop=0)


class SimulatedReplica(Protocol):
    """What the world drives of one wired orchestrator (the composition root builds it)."""

    service: OrchestratorService
    relay: OutboxRelay
    sweeper: Sweeper
    tracker: AgentMessageTracker
    bus: WorkBus


# Builds a replica over the world's parts (a port -> the instance to use) with its heartbeat
# interval: composition_root.wire_simulated_replica, so this module chooses no wiring itself.
WireReplica = Callable[[dict[Any, object], float], SimulatedReplica]


@attrs.frozen
class SimulationPlan:
    seed: int
    tasks: int = 2000
    agents: int = 4
    concurrency: int = 8
    heartbeat_interval_s: float = 2.0
    dispatch_gap_s: float = 0.02  # virtual seconds between two dispatches
    crashes: int | None = None  # agent crashes (None: one per 400 tasks, at least 2)
    pauses: int | None = None  # heartbeat pauses past the detection time (same default)
    restarts: int = 1  # orchestrator crashes and restarts over the same store
    jumps: int = 2  # wall clock jumps forward
    rates: FaultRates = attrs.Factory(FaultRates)
    settle_limit_s: float = 3600.0  # virtual time allowed for every task to end after the work

    def faults_of_each(self) -> int:
        return max(2, self.tasks // 400)


@attrs.frozen
class SimulationReport:
    seed: int
    tasks: int
    statuses: dict[str, int]
    faults: dict[str, int]
    violations: tuple[Violation, ...]
    virtual_s: float
    wall_s: float

    @property
    def ok(self) -> bool:
        return not self.violations


def run_simulation(
    plan: SimulationPlan, wire: WireReplica, say: Say | None = None
) -> SimulationReport:
    """Run the plan's world to the end on a fresh virtual-time loop (call from no loop)."""
    loop = VirtualTimeLoop()
    state = random.getstate()
    random.seed(plan.seed)  # the retry backoff's jitter draws from the global generator
    try:
        return loop.run_until_complete(_World(plan, wire, say or (lambda _: None)).run())
    finally:
        random.setstate(state)
        leftovers = asyncio.all_tasks(loop)  # a crashed agent's last coroutines
        for task in leftovers:
            task.cancel()
        loop.run_until_complete(_ended(leftovers))
        loop.close()


async def _ended(tasks: set[asyncio.Task[Any]]) -> None:
    await asyncio.gather(*tasks, return_exceptions=True)


class _StaticProbe:
    def sample(self) -> JsonObject:
        return {"cpu_percent": 10.0, "memory_percent": 20.0, "load": 0.5, "memory_free_mb": 4096}


class _World:
    def __init__(self, plan: SimulationPlan, wire: WireReplica, say: Say) -> None:
        self.plan = plan
        self.wire = wire
        self.say = say
        self.random = random.Random(plan.seed)
        self.dice = FaultDice(plan.seed ^ 0x5EED, plan.rates)
        self.clock = LoopClock()
        self.ids = SeededIds(plan.seed)
        self.store = FlakyTaskRepository(self.dice)
        self.registry = InMemoryAgentRegistry()
        self.config = OrchestratorConfig(heartbeat_interval_s=plan.heartbeat_interval_s)
        self.accepted: list[UUID] = []
        self.agents: list[tuple[AgentRuntime, FaultyAgentBus]] = []
        self.crashed: list[
            AgentRuntime
        ] = []  # dead, but their coroutines linger: stopped at the end
        self.loops: list[asyncio.Task[None]] = []
        self.chores: set[asyncio.Task[Any]] = set()
        self.broker = InMemoryBroker()
        self.wired: SimulatedReplica | None = None
        # Every life of the orchestrator shares the replicas' key (as replicas on one store
        # do), so work sent before a restart is still reported on after it (ADR 0009).
        self.replica_key = ReplicaKey(f"the simulated replicas' key, seed {plan.seed}".encode())

    async def run(self) -> SimulationReport:
        started = time.perf_counter()
        await self._start_orchestrator()
        for _ in range(self.plan.agents):
            await self._start_agent()
        span = self.plan.tasks * self.plan.dispatch_gap_s
        self._schedule_faults(span)
        await self._dispatch_all()
        self.dice.enabled = False  # the storm is over: let the world settle
        self.say(f"all {len(self.accepted)} tasks accepted; settling")
        await self._settle()
        violations = await self._audit()
        statuses = Counter((await self.store.counts()).tasks_by_status)
        await self._stop()
        return SimulationReport(
            self.plan.seed,
            len(self.accepted),
            {s.value: n for s, n in statuses.items() if n},
            dict(sorted(self.dice.counts.items())),
            violations,
            asyncio.get_running_loop().time(),
            time.perf_counter() - started,
        )

    # the world ------------------------------------------------------------------------------

    async def _start_orchestrator(self) -> None:
        overrides: dict[Any, object] = {
            Clock: self.clock,
            IdFactory: self.ids,
            TaskRepository: self.store,
            AgentRegistry: self.registry,
            ReplicaKey: self.replica_key,
            InMemoryBroker: self.broker,
            WorkBus: FaultyWorkBus(InMemoryWorkBus(self.broker), self.dice),
        }
        wired = self.wire(overrides, self.plan.heartbeat_interval_s)
        self.wired = wired
        await _retrying(wired.relay.resend_lost_work)  # a new broker holds none of the work
        await wired.bus.consume_agent_messages(wired.tracker.handle)
        self.loops = [
            asyncio.create_task(wired.relay.run()),
            asyncio.create_task(wired.sweeper.run(self.config.sweep_interval_s)),
        ]

    async def _crash_orchestrator(self) -> None:
        """The process dies: its loops, its in-memory broker and the agents in it with it."""
        self.dice.counts["orchestrator_restarted"] += 1
        for runtime, bus in self.agents:
            bus.crash()
            self.crashed.append(runtime)
        self.agents.clear()
        for loop in self.loops:
            loop.cancel()
        await asyncio.gather(*self.loops, return_exceptions=True)
        await self.broker.close()
        self.broker = InMemoryBroker()
        await self._start_orchestrator()
        for _ in range(self.plan.agents):
            await self._start_agent()

    async def _start_agent(self) -> None:
        key = f"simulated agent {self.ids.new_id()}"  # seeded: the same world every run
        agent_id = agent_id_for(key)
        bus = FaultyAgentBus(InMemoryAgentBus(self.broker, agent_id), self.dice)
        runtime = AgentRuntime(
            bus,
            demo,
            AgentIdentity(AGENT_TYPE, key),
            _StaticProbe(),
            self.plan.concurrency,
            self.plan.heartbeat_interval_s,
        )
        await runtime.start()
        self.agents.append((runtime, bus))

    async def _stop(self) -> None:
        for chore in self.chores:
            chore.cancel()
        for runtime in [*self.crashed, *(r for r, _ in self.agents)]:
            await runtime.stop(grace_s=0.0)
        for loop in self.loops:
            loop.cancel()
        await asyncio.gather(*self.loops, *self.chores, return_exceptions=True)
        if self.wired is not None:
            await self.wired.bus.close()
        await self.broker.close()

    # the workload ---------------------------------------------------------------------------

    async def _dispatch_all(self) -> None:
        tenth = max(1, self.plan.tasks // 10)
        for n in range(self.plan.tasks):
            command, cancel_after = self._command()
            assert self.wired is not None
            with contextlib.suppress(ChiffonError):  # refused (as the API would answer 503)
                task, _ = await self.wired.service.dispatch(command)
                self.accepted.append(task.task_id)
                if cancel_after is not None:
                    self._later(cancel_after, self._cancel(task.task_id))
            if (n + 1) % tenth == 0:
                self.say(f"dispatched {n + 1}/{self.plan.tasks}; faults so far {self._faults()}")
            await asyncio.sleep(self.plan.dispatch_gap_s)

    def _command(self) -> tuple[DispatchCommand, float | None]:
        r = self.random
        task_id = self.ids.new_id()
        priority = r.randint(1, 5)
        kind = r.random()
        retry = RetryRequest(max_attempts=r.randint(1, 4))
        timeout: float | None = None
        delay: float | None = None
        params: JsonObject
        if kind < 0.3:
            work, params = "echo", {"n": r.randint(0, 1000)}
        elif kind < 0.65:
            work, params = "sleep", {"seconds": round(r.uniform(0.2, 8), 2), "step_s": 1}
        elif kind < 0.8:
            work, params = "fail", {"message": "simulated failure"}
            retry = RetryRequest(r.randint(1, 3), 0.5, None, (RetryOn.FAILED, RetryOn.LOST))
        elif kind < 0.9:
            work, params = "sleep", {"seconds": round(r.uniform(2, 10), 2), "step_s": 1}
            timeout = round(r.uniform(1, 6), 2)
            if r.random() < 0.5:
                retry = RetryRequest(2, 0.0, None, (RetryOn.TIMED_OUT, RetryOn.LOST))
        else:
            work = r.choice(["echo", "sleep"])
            params = {"late": True} if work == "echo" else {"seconds": 1}
            delay = round(r.uniform(1, 30), 2)
        cancel_after = round(r.uniform(0, 10), 2) if r.random() < 0.08 else None
        # A fifth share three concurrency keys (limits 1, 2, 3): the checker's
        # concurrency_limit rule then holds across crashes, restarts and cancels too.
        key = r.choice(tuple(KEY_LIMITS)) if r.random() < 0.2 else None
        limit = None if key is None else ConcurrencyLimit(key, KEY_LIMITS[key])
        command = DispatchCommand(
            task_id,
            work,
            params,
            priority=priority,
            timeout_s=timeout,
            retry=retry,
            delay_s=delay,
            concurrency=limit,
        )
        return command, cancel_after

    async def _cancel(self, task_id: UUID) -> None:
        assert self.wired is not None
        with contextlib.suppress(ChiffonError):  # already ended, or the store failed
            await self.wired.service.cancel(task_id)

    # the faults -----------------------------------------------------------------------------

    def _schedule_faults(self, span: float) -> None:
        r = self.random
        each = self.plan.faults_of_each()
        for _ in range(self.plan.crashes if self.plan.crashes is not None else each):
            self._later(r.uniform(0, span), self._crash_agent())
        for _ in range(self.plan.pauses if self.plan.pauses is not None else each):
            self._later(r.uniform(0, span), self._pause_heartbeats())
        for _ in range(self.plan.restarts):
            self._later(r.uniform(span * 0.2, span * 0.8), self._crash_orchestrator())
        for _ in range(self.plan.jumps):
            self._later(r.uniform(0, span), self._jump_clock())

    async def _crash_agent(self) -> None:
        if not self.agents:
            return
        runtime, bus = self.agents.pop(self.random.randrange(len(self.agents)))
        bus.crash()  # mid-task: its handlers' results are never sent
        self.crashed.append(runtime)
        self.dice.counts["agent_crashed"] += 1
        await asyncio.sleep(self.random.uniform(1, 10))
        await self._start_agent()  # a supervisor starts another

    async def _pause_heartbeats(self) -> None:
        if not self.agents:
            return
        _, bus = self.random.choice(self.agents)
        bus.beats_paused = True
        self.dice.counts["heartbeats_paused"] += 1
        await asyncio.sleep(self.config.detection_s + self.random.uniform(1, 10))
        bus.beats_paused = False

    async def _jump_clock(self) -> None:
        self.clock.jump(self.random.uniform(1, 20))
        self.dice.counts["clock_jumped"] += 1

    def _later(self, delay_s: float, work: Awaitable[None]) -> None:
        async def run() -> None:
            await asyncio.sleep(delay_s)
            await work

        chore = asyncio.create_task(run())
        self.chores.add(chore)
        chore.add_done_callback(self.chores.discard)

    # the end --------------------------------------------------------------------------------

    async def _settle(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.plan.settle_limit_s
        while loop.time() < deadline:
            counts = (await self.store.counts()).tasks_by_status
            if sum(n for s, n in counts.items() if s not in TERMINAL) == 0 and not self.chores:
                return
            await asyncio.sleep(5)

    async def _audit(self) -> tuple[Violation, ...]:
        auditor = Auditor(self.store, self.registry, self.clock, self.config.audit_limit_s)
        report = await auditor.audit(settled=True)
        missing = len(self.accepted) - report.tasks_checked
        if missing:  # an accepted task the store no longer holds: nothing may be lost
            self.say(f"{missing} accepted tasks are missing from the store")
            lost = Violation(UUID(int=0), "lost_tasks", (), f"{missing} accepted tasks are gone")
            return (*report.violations, lost)
        return report.violations

    def _faults(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(self.dice.counts.items())) or "none"


async def _retrying(call: Callable[[], Awaitable[Any]]) -> None:
    """A start-up step the flaky store may fail: tried again, as a restarting process would."""
    while True:
        try:
            await call()
            return
        except ChiffonError:
            await asyncio.sleep(1)


def describe(report: SimulationReport) -> list[str]:
    """The report as lines to print: seed, counts, faults, violations, and the rerun."""
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(report.statuses.items()))
    faults = ", ".join(f"{k} {v}" for k, v in report.faults.items()) or "none"
    lines = [
        f"seed {report.seed}: {report.tasks} tasks ({statuses})",
        f"faults: {faults}",
        f"{report.virtual_s:.0f} s of virtual time in {report.wall_s:.1f} s",
    ]
    lines += [str(v) for v in report.violations]
    lines.append(f"{len(report.violations)} violations")
    return lines


def simulate_command(options: dict[str, Any], wire: WireReplica, say: Say = print) -> int:
    """`chiffon simulate`: progress, then the seed, counts, faults and violations, and the one
    command that runs the same world again; exit 1 on any violation."""
    seed = options.get("seed")
    if seed is None:
        seed = random.SystemRandom().randrange(1_000_000)
    plan = SimulationPlan(seed=seed)
    if "tasks" in options:
        plan = attrs.evolve(plan, tasks=options["tasks"])
    if "agents" in options:
        plan = attrs.evolve(plan, agents=options["agents"])
    if options.get("faults") is False:
        plan = attrs.evolve(plan, rates=NO_FAULTS, crashes=0, pauses=0, restarts=0, jumps=0)
    if plan.tasks < 1 or plan.agents < 1:
        say("chiffon: --tasks and --agents must be at least 1")
        return 2
    say(f"simulating seed {seed}: {plan.tasks} tasks, {plan.agents} agents")
    logging.disable(logging.CRITICAL)  # the faults make the world log errors on purpose
    try:
        report = run_simulation(plan, wire, say)
    finally:
        logging.disable(logging.NOTSET)
    for line in describe(report):
        say(line)
    if not report.ok:
        say(f"rerun: chiffon simulate --seed {seed} --tasks {plan.tasks} --agents {plan.agents}")
    return 0 if report.ok else 1
