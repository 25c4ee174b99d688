"""Every metric chiffon exposes, in one registry of its own (no process-global state)."""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Seconds: from a millisecond to a day, for waits and runs; finer for HTTP.
TASK_BUCKETS: Final = (0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 86400)
HTTP_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class ChiffonMetrics:
    """The counters, histograms and gauges; docs/operations.md lists them all."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.dispatched = Counter(
            "chiffon_tasks_dispatched", "Tasks accepted by dispatch.", ["work_type"], registry=r
        )
        self.finished = Counter(
            "chiffon_tasks_finished",
            "Tasks that reached a final status.",
            ["work_type", "status"],
            registry=r,
        )
        self.ignored = Counter(
            "chiffon_agent_messages_ignored",
            "Agent statuses and results that changed nothing: stale, duplicate or late.",
            ["kind"],
            registry=r,
        )
        self.refused = Counter(
            "chiffon_agent_messages_refused",
            "Messages refused at the broker boundary: no lease token, not from the agent "
            "itself, too many agent or work types, malformed (dead-lettered), a notify frame "
            "not from a replica.",
            ["reason"],
            registry=r,
        )
        self.report_refused = Counter(
            "chiffon_agent_reports_refused",
            "Agent reports refused: not from the agent holding the task's current attempt.",
            ["report"],
            registry=r,
        )
        self.http_requests = Counter(
            "chiffon_http_requests",
            "HTTP requests answered, by route template and status.",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_seconds = Histogram(
            "chiffon_http_request_duration_seconds",
            "Time to answer an HTTP request (WebSocket sessions are not timed).",
            ["method", "route"],
            buckets=HTTP_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "chiffon_task_queue_wait_seconds",
            "From dispatch to running, for first attempts.",
            ["work_type"],
            buckets=TASK_BUCKETS,
            registry=r,
        )
        self.run_time = Histogram(
            "chiffon_task_run_seconds",
            "From running to a final status.",
            ["work_type", "status"],
            buckets=TASK_BUCKETS,
            registry=r,
        )
        self.tasks = Gauge(
            "chiffon_tasks", "Tasks in the store, by status.", ["status"], registry=r
        )
        self.outbox_unsent = Gauge(
            "chiffon_outbox_unsent", "Outbox messages not yet published.", registry=r
        )
        self.agents = Gauge(
            "chiffon_agents", "Agents known, by type and status.", ["agent_type", "status"],
            registry=r,
        )  # fmt: skip
        self.websockets = Gauge(
            "chiffon_websocket_connections", "Open WebSocket connections.", registry=r
        )
        self.schedule_fires = Counter(
            "chiffon_schedule_fires",
            "Tasks dispatched by schedules (each scheduled time once).",
            ["work_type"],
            registry=r,
        )
        self.schedule_skipped = Counter(
            "chiffon_schedule_skipped",
            "Scheduled times not run: missed (catch-up), overlap, refused (by dispatch).",
            ["work_type", "reason"],
            registry=r,
        )
        self.schedule_lag = Histogram(
            "chiffon_schedule_lag_seconds",
            "From a fire's scheduled time to its dispatch.",
            ["work_type"],
            buckets=TASK_BUCKETS,
            registry=r,
        )
        self.store_up = Gauge(
            "chiffon_store_up", "1 when the store answered the last scrape, else 0.", registry=r
        )
