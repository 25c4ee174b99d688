"""Turning request bodies, paths and queries into validated values (400/1000 on failure)."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from aiohttp import web
from marshmallow import Schema, ValidationError

from chiffon.errors import InvalidRequest


async def json_body(request: web.Request, schema: Schema) -> dict[str, Any]:
    # The body must be JSON whatever Content-Type says (curl -d sends form-urlencoded).
    if request.content_type.startswith("multipart/"):
        raise InvalidRequest("body must be JSON, not multipart", {"body": ["must be JSON"]})
    raw = await request.read()
    try:
        data = json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"body is not valid JSON: {exc}", {"body": [str(exc)]}) from exc
    if not isinstance(data, dict):
        raise InvalidRequest("body must be a JSON object", {"body": ["must be a JSON object"]})
    return load(schema, data)


def query(request: web.Request, schema: Schema) -> dict[str, Any]:
    repeated = [k for k in request.query if len(request.query.getall(k)) > 1]
    if repeated:
        raise InvalidRequest("query parameters given twice", {k: ["given twice"] for k in repeated})
    return load(schema, dict(request.query))


def path_uuid(request: web.Request, name: str) -> UUID:
    text = request.match_info[name]
    try:
        return UUID(text)
    except ValueError as exc:
        raise InvalidRequest(f"{name} must be a UUID", {name: ["Not a valid UUID."]}) from exc


def load(schema: Schema, data: dict[str, Any]) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = schema.load(data)
    except ValidationError as exc:
        fields = sorted(exc.messages) if isinstance(exc.messages, dict) else []
        message = f"invalid field(s): {', '.join(fields)}" if fields else "invalid request"
        raise InvalidRequest(message, exc.messages) from exc
    return loaded
