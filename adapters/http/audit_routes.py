"""GET /api/v1/audit: the history checker over the stored tasks."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp_apispec import docs, querystring_schema, response_schema

from adapters.http.keys import SERVICE
from adapters.http.openapi import BAD_REQUEST, responses
from adapters.http.parsing import query
from adapters.http.rendering import json_response
from adapters.http.schemas import AuditQuerySchema, AuditReportSchema
from chiffon.audit import Violation
from chiffon.auditor import AuditReport

routes = web.RouteTableDef()
_query_schema = AuditQuerySchema()


@docs(
    tags=["tasks"],
    summary="Check the tasks' histories against chiffon's promises",
    operationId="auditTasks",
    description="Reads every task (created at or after `since`, of `trace_id`) with its "
    "timeline, and the agents, and checks: one final state per task and nothing changed after "
    "it, revisions 1, 2, 3... without gaps, attempts never above max_attempts, no report "
    "applied from a stale attempt or from an agent that did not hold the attempt, never two "
    "agents running one attempt, every cancel with an outcome, every pending task with a "
    "waiting reason, nothing running on an agent silent past the loss detection time. "
    "An empty `violations` list means every promise held. Costs a read of every task "
    "checked: scope it on large stores.",
    responses=responses((400, BAD_REQUEST)),
)
@querystring_schema(AuditQuerySchema)
@response_schema(AuditReportSchema, 200)
@routes.get("/api/v1/audit")
async def audit(request: web.Request) -> web.Response:
    q = query(request, _query_schema)
    report = await request.app[SERVICE].audit(
        q.get("since"), q.get("trace_id"), settled=q["settled"]
    )
    return json_response(report_json(report))


def report_json(report: AuditReport) -> dict[str, Any]:
    return {
        "at": report.at.isoformat(),
        "tasks_checked": report.tasks_checked,
        "violations": [_violation(v) for v in report.violations],
    }


def _violation(v: Violation) -> dict[str, Any]:
    return {
        "task_id": str(v.task_id),
        "rule": v.rule,
        "revisions": list(v.revisions),
        "message": v.message,
    }
