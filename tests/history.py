"""The history checker as tests end with it: every e2e and fault test asserts that the
histories it made hold every promise (0 violations), with each violation printed if not."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from adapters.postgres.agent_registry import PostgresAgentRegistry
from adapters.postgres.pool import create_pool
from adapters.postgres.task_repository import PostgresTaskRepository
from adapters.system.clock import SystemClock
from chiffon.auditor import Auditor, AuditReport
from chiffon.config import OrchestratorConfig
from ports.agent_registry import AgentRegistry
from ports.clock import Clock
from ports.task_repository import TaskRepository


def detection_s(heartbeat_interval_s: float) -> float:
    """The loss detection time of orchestrators run with this heartbeat interval."""
    return OrchestratorConfig(heartbeat_interval_s=heartbeat_interval_s).audit_limit_s


async def assert_history_clean(
    tasks: TaskRepository,
    agents: AgentRegistry,
    clock: Clock,
    heartbeat_interval_s: float,
    since: datetime | None = None,
    trace_id: UUID | None = None,
    *,
    settled: bool = False,
) -> AuditReport:
    """Run the checker over the stores (tasks created since `since`, of `trace_id`); fail
    with every violation, one per line."""
    auditor = Auditor(tasks, agents, clock, detection_s(heartbeat_interval_s))
    report = await auditor.audit(since, trace_id, settled=settled)
    lines = "\n".join(str(v) for v in report.violations)
    assert not report.violations, (
        f"history checker: {len(report.violations)} violations in {report.tasks_checked} "
        f"tasks:\n{lines}"
    )
    return report


async def assert_database_history_clean(
    dsn: str, heartbeat_interval_s: float, since: datetime | None = None, *, settled: bool = False
) -> AuditReport:
    """The same over a PostgreSQL database that processes wrote (the e2e tests), read now."""
    pool = await create_pool(dsn, min_size=1, max_size=2)
    try:
        return await assert_history_clean(
            PostgresTaskRepository(pool),
            PostgresAgentRegistry(pool),
            SystemClock(),
            heartbeat_interval_s,
            since,
            settled=settled,
        )
    finally:
        await pool.close()
