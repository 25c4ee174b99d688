"""The Celery app of baseline (d): one `echo` task, broker and backend from the environment.

BENCH_CELERY_BROKER   amqp://guest:guest@127.0.0.1:5672/<vhost>
BENCH_CELERY_BACKEND  db+postgresql://postgres@127.0.0.1/<database>
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

app = Celery(
    "bench_celery",
    broker=os.environ.get("BENCH_CELERY_BROKER", "amqp://guest:guest@127.0.0.1:5672//"),
    backend=os.environ.get(
        "BENCH_CELERY_BACKEND", "db+postgresql+psycopg2://postgres@127.0.0.1/chiffon_bench_celery"
    ),
)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_backend_always_retry=True,
    result_backend_max_retries=10,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    task_default_queue="bench_echo",
)


@app.task(name="bench.echo")
def echo(parameters: Any) -> Any:
    return parameters
