"""The structured fields of log lines about a task or an agent (ids and names, never values:
a task's parameters, result and output are not logged)."""

from __future__ import annotations

from typing import Any

from chiffon.model import Agent, Task


def task_fields(task: Task, **more: Any) -> dict[str, Any]:
    return {
        "task_id": str(task.task_id),
        "trace_id": str(task.trace_id),
        "work_type": task.work_type,
        "agent_type": task.agent_type,
        "attempt": task.attempt,
        **more,
    }


def agent_fields(agent: Agent, **more: Any) -> dict[str, Any]:
    return {"agent_id": str(agent.agent_id), "agent_type": agent.agent_type, **more}
