"""Ctrl-C on `chiffon agent`: the first says what it waits for and lets running work finish,
the second stops at once and hands the work to the loss policy (warm and cold shutdown)."""

from __future__ import annotations

import signal
import uuid

import pytest

from tests.e2e.harness import Cluster, Proc, eventually

pytestmark = pytest.mark.e2e

GRACE_S = "120"  # far longer than any wait here: stopping sooner proves the second Ctrl-C


async def start_agent(cluster: Cluster, serve: Proc) -> Proc:
    return await cluster.start_agent(serve, concurrency=4, CHIFFON_SHUTDOWN_GRACE_S=GRACE_S)


async def said(proc: Proc, text: str, what: str) -> None:
    async def log() -> str:
        return proc.log()

    await eventually(log, lambda t: text in t, 10, what)


async def test_first_ctrl_c_waits_for_running_work_and_says_so(cluster: Cluster) -> None:
    serve = await cluster.start_orchestrator()
    agent = await start_agent(cluster, serve)
    task_id = str(uuid.uuid4())
    body = {"task_id": task_id, "work_type": "sleep", "parameters": {"seconds": 2, "step_s": 0.5}}
    await cluster.dispatch(serve, body)
    await eventually(lambda: cluster.task(task_id), lambda t: t["status"] == "running", 10, "run")
    agent.send(signal.SIGINT)
    await said(agent, "waiting up to 120 s for 1 running task(s) to finish", "what it waits for")
    assert task_id in agent.log() and "press Ctrl-C again to stop now" in agent.log()
    assert await agent.wait_exit(timeout=15) == 0
    done = await cluster.status(serve, task_id)
    assert (done["status"], done["attempt"]) == ("completed", 1)  # it was let finish
    assert "chiffon agent: stopped" in agent.log()


async def test_second_ctrl_c_stops_at_once_and_the_task_is_retried(cluster: Cluster) -> None:
    serve = await cluster.start_orchestrator()
    agent = await start_agent(cluster, serve)
    task_id = str(uuid.uuid4())
    body = {"task_id": task_id, "work_type": "sleep", "parameters": {"seconds": 300}}
    await cluster.dispatch(serve, body)
    await eventually(lambda: cluster.task(task_id), lambda t: t["status"] == "running", 10, "run")
    agent.send(signal.SIGINT)
    await said(agent, "waiting up to 120 s for 1 running task(s)", "the first Ctrl-C's answer")
    assert agent.alive  # warm: still waiting for the 300 s sleep
    agent.send(signal.SIGINT)
    await said(agent, "stopping now; 1 running task(s) abandoned", "the second Ctrl-C's answer")
    assert await agent.wait_exit(timeout=15) == 0  # not the 120 s grace
    retried = await eventually(
        lambda: cluster.status(serve, task_id),
        lambda t: t["status"] == "pending" and t["attempt"] == 2,
        10,
        "handed to the loss policy",
    )
    assert retried["waiting_reason"] in ("no_agent", "queued", "retry_backoff")
    assert await cluster.agent_status(serve, agent.agent_id) == "offline"  # its goodbye
