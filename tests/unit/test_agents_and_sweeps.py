import asyncio

import attrs

from chiffon.config import OrchestratorConfig
from chiffon.events import AgentUpdated
from chiffon.handlers import HandlerContext, HandlerRegistry
from chiffon.leases import LeaseKeeper
from chiffon.ledger import TaskLedger
from chiffon.model import AgentStatus, LossPolicy, TaskStatus
from ports.notifier import Notifier
from tests.helpers import Stack, eventually, running_stack

S = TaskStatus


async def agents(stack: Stack) -> list:  # type: ignore[type-arg]
    return await stack.service.list_agents()


async def test_heartbeats_register_the_agent_with_its_resources(stack: Stack) -> None:
    runtime, _ = await stack.add_agent(concurrency=3)
    [agent] = await eventually(lambda: agents(stack), lambda a: len(a) == 1)
    assert agent.agent_id == runtime.agent_id and agent.status is AgentStatus.ONLINE
    assert agent.max_concurrency == 3 and agent.capabilities == ("echo", "fail", "sleep")
    assert agent.resources["cpu_percent"] == 1.0
    assert any(isinstance(e, AgentUpdated) for e in stack.events)


async def test_an_agent_at_full_concurrency_reports_busy(stack: Stack) -> None:
    await stack.add_agent(concurrency=1)
    task = await stack.dispatch("sleep", parameters={"seconds": 5})
    await stack.until_status(task.task_id, S.RUNNING)
    [agent] = await eventually(lambda: agents(stack), lambda a: a[0].status is AgentStatus.BUSY)
    assert agent.running_tasks == (task.task_id,)


async def test_offline_after_three_missed_intervals_not_before(stack: Stack) -> None:
    assert stack.container is not None
    config = stack.container.resolve(OrchestratorConfig)
    # The defaults: 2 s heartbeats, lost after 3 missed, seen by the next sweep (every 1 s).
    assert (config.offline_after_s, config.sweep_interval_s, config.detection_s) == (6, 1, 7)
    await stack.add_agent()
    await eventually(lambda: agents(stack), lambda a: len(a) == 1)
    stack.clock.advance(config.offline_after_s - 1)
    await stack.wired.sweeper.sweep()
    assert (await agents(stack))[0].status is AgentStatus.ONLINE
    stack.clock.advance(2)
    await stack.wired.sweeper.sweep()
    assert (await agents(stack))[0].status is AgentStatus.OFFLINE
    offline_events = [
        e
        for e in stack.events
        if isinstance(e, AgentUpdated) and e.agent.status is AgentStatus.OFFLINE
    ]
    await stack.wired.sweeper.sweep()
    assert len(offline_events) == 1


async def test_goodbye_marks_the_agent_offline_at_once(stack: Stack) -> None:
    runtime, _ = await stack.add_agent()
    await eventually(lambda: agents(stack), lambda a: len(a) == 1)
    await runtime.stop(grace_s=0.1)
    await eventually(lambda: agents(stack), lambda a: a[0].status is AgentStatus.OFFLINE)


async def test_a_lost_agent_task_is_retried_as_attempt_two_elsewhere(stack: Stack) -> None:
    first, first_bus = await stack.add_agent()
    task = await stack.dispatch("sleep", parameters={"seconds": 0.3, "step_s": 0.1})
    running = await stack.until_status(task.task_id, S.RUNNING)
    assert running.agent_id == first.agent_id
    first_bus.kill()  # kill -9: no goodbye, no result
    second, _ = await stack.add_agent()
    stack.clock.advance(91)
    await stack.wired.sweeper.sweep()
    done = await stack.until_status(task.task_id, S.COMPLETED)
    assert (done.attempt, done.agent_id) == (2, second.agent_id)


async def test_retries_stop_at_max_attempts(stack: Stack) -> None:
    task = await stack.dispatch("sleep", parameters={"seconds": 30})
    for attempt in (1, 2, 3):
        _, bus = await stack.add_agent()
        running = await stack.until_status(task.task_id, S.RUNNING)
        assert running.attempt == attempt
        bus.kill()
        stack.clock.advance(91)
        await stack.wired.sweeper.sweep()
    final = await stack.until_status(task.task_id, S.FAILED)
    assert final.attempt == 3 and "max_attempts reached" in (final.error_message or "")


async def test_the_fail_loss_policy_fails_at_once(stack: Stack) -> None:
    config = OrchestratorConfig(loss_policies={"sleep": LossPolicy.FAIL})
    assert stack.container is not None
    ledger, notifier = stack.container.resolve(TaskLedger), stack.container.resolve(Notifier)
    leases = LeaseKeeper(stack.wired.tasks, ledger, notifier, config)
    _runtime, bus = await stack.add_agent()
    task = await stack.dispatch("sleep", parameters={"seconds": 30})
    await stack.until_status(task.task_id, S.RUNNING)
    bus.kill()
    [agent] = await agents(stack)
    await leases.agent_lost(attrs.evolve(agent, status=AgentStatus.OFFLINE))
    final = await stack.task(task.task_id)
    assert final.status is S.FAILED and "loss policy is fail" in (final.error_message or "")


async def test_work_an_agent_held_but_never_started_is_redelivered(stack: Stack) -> None:
    stuck = HandlerRegistry()

    @stuck.register("echo")
    async def never(ctx: HandlerContext) -> None:
        await asyncio.sleep(60)

    # A busy agent with one slot holds the next delivery unacked until it has a slot.
    _runtime, bus = await stack.add_agent(stuck, concurrency=1)
    blocker = await stack.dispatch("echo", parameters={"block": True})
    await stack.until_status(blocker.task_id, S.RUNNING)
    held = await stack.dispatch("echo", parameters={"held": True})
    await asyncio.sleep(0.05)  # delivered to the busy agent, waiting for a free slot
    assert stack.broker.depth("chiffon.work.demo") == 0
    bus.kill()
    other, _ = await stack.add_agent()
    done = await stack.until_status(held.task_id, S.COMPLETED)
    assert (done.agent_id, done.attempt) == (other.agent_id, 1)


async def test_a_pending_task_past_its_deadline_times_out_once(stack: Stack) -> None:
    task = await stack.dispatch("echo", timeout_s=10)
    stack.clock.advance(9)
    await stack.wired.sweeper.sweep()
    assert (await stack.task(task.task_id)).status is S.PENDING
    stack.clock.advance(2)
    await stack.wired.sweeper.sweep()
    await stack.wired.sweeper.sweep()
    final = await stack.task(task.task_id)
    assert final.status is S.TIMED_OUT and final.error_message == "timed out after 10.0s"
    timed_out = [
        e for e in stack.events if getattr(e, "task", None) and e.task.status is S.TIMED_OUT
    ]  # type: ignore[union-attr]
    assert len(timed_out) == 1


async def test_a_running_task_past_its_deadline_is_stopped_on_the_agent(stack: Stack) -> None:
    runtime, _ = await stack.add_agent()
    task = await stack.dispatch("sleep", parameters={"seconds": 30}, timeout_s=20)
    await stack.until_status(task.task_id, S.RUNNING)
    stack.clock.advance(21)
    await stack.wired.sweeper.sweep()
    assert (await stack.task(task.task_id)).status is S.TIMED_OUT
    await eventually(lambda: _running(runtime), lambda r: r == ())
    final = await stack.task(task.task_id)  # the agent's `cancelled` result changed nothing
    # The orchestrator's deadline won: the same end as the agent's own timer gives.
    assert (final.status, final.exit_code) == (S.TIMED_OUT, 124)
    assert final.error_message == "timed out after 20.0s"


async def _running(runtime: object) -> object:
    return runtime.running_tasks  # type: ignore[attr-defined]


async def test_a_clean_stop_hands_only_abandoned_tasks_to_the_loss_policy(stack: Stack) -> None:
    leaving, _ = await stack.add_agent(concurrency=2)
    quick = await stack.dispatch("sleep", parameters={"seconds": 0.05, "step_s": 0.05})
    slow = await stack.dispatch("sleep", parameters={"seconds": 30})
    await stack.until_status(slow.task_id, S.RUNNING)
    await stack.until_status(quick.task_id, S.RUNNING, S.COMPLETED)
    await leaving.stop(grace_s=0.3)  # quick finishes within the grace, slow is abandoned
    retried = await stack.until_status(slow.task_id, S.PENDING)
    assert retried.attempt == 2
    done = await stack.task(quick.task_id)
    assert (done.status, done.attempt) == (S.COMPLETED, 1)
    other, _ = await stack.add_agent()
    moved = await stack.until_status(slow.task_id, S.RUNNING)
    assert moved.agent_id == other.agent_id


async def test_the_missed_beats_rule_is_settable() -> None:
    async with running_stack(heartbeat_interval_s=0.5, missed_heartbeats=4) as stack:
        assert stack.container is not None
        config = stack.container.resolve(OrchestratorConfig)
        assert (config.offline_after_s, config.detection_s) == (2.0, 2.5)
        await stack.add_agent()
        await eventually(lambda: agents(stack), lambda a: len(a) == 1)
        stack.clock.advance(1.9)
        await stack.wired.sweeper.sweep()
        assert (await agents(stack))[0].status is AgentStatus.ONLINE
        stack.clock.advance(0.2)
        await stack.wired.sweeper.sweep()
        assert (await agents(stack))[0].status is AgentStatus.OFFLINE


async def test_a_second_signal_stops_at_once_without_waiting_out_the_grace(stack: Stack) -> None:
    leaving, _ = await stack.add_agent()
    slow = await stack.dispatch("sleep", parameters={"seconds": 30})
    await stack.until_status(slow.task_id, S.RUNNING)
    hurry = asyncio.Event()
    stopping = asyncio.create_task(leaving.stop(grace_s=3600, hurry=hurry))
    await asyncio.sleep(0.05)
    assert not stopping.done()  # warm: it waits for the running task
    hurry.set()  # cold: the second Ctrl-C
    await asyncio.wait_for(stopping, 5)  # not the hour of grace
    retried = await stack.until_status(slow.task_id, S.PENDING)
    assert retried.attempt == 2  # the goodbye handed it to the loss policy
