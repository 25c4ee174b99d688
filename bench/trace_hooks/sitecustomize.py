"""Loaded by every Python process started with this directory on PYTHONPATH (bench/echo_trace.py
does that for `chiffon serve` and `chiffon agent`): wraps the hops of a task's way with wall
clock stamps (nanoseconds, comparable across processes on one machine) and writes them to
$CHIFFON_TRACE_DIR/out-<pid>.tsv when the process ends. A measuring aid only: it adds a few
microseconds per hop and nothing in chiffon knows of it."""

from __future__ import annotations

import atexit
import functools
import os
import signal
import time
from collections.abc import Callable
from typing import Any

_ROWS: list[tuple[int, str, str]] = []
_DIR = os.environ.get("CHIFFON_TRACE_DIR", "")


def _save() -> None:
    if _DIR:
        with open(os.path.join(_DIR, f"out-{os.getpid()}.tsv"), "w") as out:
            out.writelines(f"{t}\t{label}\t{key}\n" for t, label, key in _ROWS)


def _on_term(*_: Any) -> None:
    _save()
    os._exit(0)


def _ids(messages: Any) -> str:
    return ",".join(str(getattr(m.payload, "task_id", "")) for m in messages)


def _wrap(cls: Any, name: str, label: str, key: Callable[..., str]) -> None:
    original = getattr(cls, name)

    @functools.wraps(original)
    async def traced(*args: Any, **kwargs: Any) -> Any:
        k = key(*args, **kwargs)
        _ROWS.append((time.time_ns(), label + ">", k))
        try:
            return await original(*args, **kwargs)
        finally:
            _ROWS.append((time.time_ns(), label + "<", k))

    setattr(cls, name, traced)


def _install() -> None:
    import asyncio

    import adapters.amqp.agent_bus as agent_bus
    import adapters.amqp.notifier as notifier
    import adapters.amqp.work_bus as work_bus
    import adapters.postgres.report_batch as report_batch
    import chiffon.agent as agent
    import chiffon.ledger as ledger
    import chiffon.relay as relay
    import chiffon.tracking as tracking

    _wrap(ledger.TaskLedger, "create", "commit", lambda _, task: str(task.task_id))
    _wrap(relay.OutboxRelay, "_publish", "relay", lambda _, batch: _ids(batch))
    _wrap(tracking.AgentMessageTracker, "handle", "received", _message_key)
    _wrap(ledger.TaskLedger, "apply", "write", lambda _, task_id, *a, **k: str(task_id))
    _wrap(ledger.TaskLedger, "apply_together", "joint_write", lambda _, task_id, *a: str(task_id))
    _wrap(agent.AgentRuntime, "_take", "agent_take", lambda _, d: str(d.request.task_id))
    _wrap(agent.AgentRuntime, "_run", "handler", lambda _, req, stop: str(req.task_id))
    _wrap(agent_bus.AmqpAgentBus, "publish", "agent_publish", _message_key)
    _wrap(agent_bus.AmqpAgentBus, "_on_delivery", "agent_delivery", lambda *_: "")
    _wrap(work_bus.AmqpWorkBus, "_on_delivery", "orchestrator_delivery", lambda *_: "")
    _wrap(
        report_batch.ReportBatcher,
        "_write_group",
        "report_sql",
        lambda _, group: ",".join(str(r.task_id) for r in group),
    )

    deliver = notifier.AmqpNotifier.deliver

    def pushed(self: Any, event: Any) -> None:
        task = getattr(event, "task", None)
        if task is not None:
            _ROWS.append((time.time_ns(), f"push:{task.status.value}", str(task.task_id)))
        deliver(self, event)

    notifier.AmqpNotifier.deliver = pushed  # type: ignore[method-assign]

    write = asyncio.StreamWriter.write  # aiormq's socket writes (aiohttp writes elsewhere)

    def written(self: asyncio.StreamWriter, data: Any) -> None:
        _ROWS.append((time.time_ns(), "amqp_write", ""))
        write(self, data)

    asyncio.StreamWriter.write = written  # type: ignore[method-assign]


def _message_key(_: Any, message: Any) -> str:
    return f"{type(message).__name__}:{getattr(message, 'task_id', '')}"


if _DIR:
    try:
        _install()
    except ImportError:  # not a chiffon process
        pass
    else:
        atexit.register(_save)
        signal.signal(signal.SIGTERM, _on_term)
