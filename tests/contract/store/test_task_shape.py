"""One source for the task's fields: the model. The HTTP schema, the SQL columns and their
types, and the codec's JSON all follow it; this test fails when one of them does not."""

from __future__ import annotations

import asyncpg
import attrs
import pytest

from adapters.codec import task_to_json
from adapters.http.schemas import TaskSchema
from adapters.postgres.rows import TASK_COLUMNS, TASK_SQL_TYPES
from chiffon.model import Task
from tests.contract.store.builders import make_task

FIELDS = [f.name for f in attrs.fields(Task)]
# How PostgreSQL names the types of TASK_SQL_TYPES (int8 values go in int4 columns too).
SQL_NAMES = {
    "uuid": {"uuid"},
    "text": {"text"},
    "int8": {"integer", "bigint"},
    "float8": {"double precision"},
    "timestamptz": {"timestamp with time zone"},
    "jsonb": {"jsonb"},
}


def test_the_http_schema_and_the_json_have_the_model_s_fields() -> None:
    assert set(TaskSchema().fields) == set(FIELDS)
    assert list(task_to_json(make_task())) == FIELDS
    nullable = {f.name for f in attrs.fields(Task) if "None" in str(f.type)} | {"result"}
    declared = {name for name, field in TaskSchema().fields.items() if field.allow_none}
    assert declared == nullable  # result: any JSON value, null included


def test_the_sql_columns_follow_the_model() -> None:
    assert list(TASK_COLUMNS) == FIELDS
    assert set(TASK_SQL_TYPES) == set(FIELDS)


@pytest.mark.postgres
async def test_the_migrated_table_has_the_model_s_columns(pg_pool: asyncpg.Pool) -> None:
    rows = await pg_pool.fetch(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_name = 'tasks' AND table_schema = current_schema()"
    )
    actual = {r["column_name"]: r["data_type"] for r in rows}
    assert set(actual) == set(FIELDS)
    for name, sql in TASK_SQL_TYPES.items():
        assert actual[name] in SQL_NAMES[sql], (name, actual[name], sql)
