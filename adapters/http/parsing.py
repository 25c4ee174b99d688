"""Turning request bodies, paths and queries into validated values (4xx on failure)."""

from __future__ import annotations

import asyncio
from typing import Any, Final
from uuid import UUID

from aiohttp import web
from marshmallow import Schema, ValidationError

from adapters.codec import strict_json
from adapters.http.edge_errors import RequestTimeout, UnsupportedMediaType
from adapters.http.keys import ALLOWED_ORIGINS
from adapters.http.origin import check_origin
from chiffon.errors import InvalidRequest

BODY_TIMEOUT_S: Final = 30.0
JSON_CHARSETS: Final = frozenset({"", "utf-8", "utf8"})


def require_json_if_any(request: web.Request) -> None:
    """An operation that takes no body: accepted without one, whatever its Content-Type says
    (`curl -X POST URL` and httpx's and requests' `post(url)` send none, aiohttp's client
    says application/octet-stream), or with a JSON body (ignored); a body of another type is
    415. A bodyless POST from a browser page of another origin is refused (403/4030): with no
    body type to insist on, its Origin header is what keeps cross-site pages (a form, fetch
    with no-cors, sendBeacon) out."""
    if request.body_exists:
        require_json(request)
    else:
        allowed: frozenset[str] = request.app[ALLOWED_ORIGINS]
        check_origin(request, allowed)


def require_json(request: web.Request) -> None:
    """A POST says it carries JSON. Besides strictness this stops cross-site forms: a page on
    another site can POST text/plain or a form without asking, but not application/json."""
    if request.content_type != "application/json":
        raise UnsupportedMediaType(
            "send Content-Type: application/json",
            {"Content-Type": [f"got {request.content_type!r}; must be application/json"]},
        )
    if (request.charset or "").lower() not in JSON_CHARSETS:
        raise UnsupportedMediaType(
            "JSON bodies are UTF-8", {"Content-Type": ["charset must be utf-8"]}
        )
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        raise UnsupportedMediaType(
            "compressed bodies are not accepted; send the JSON uncompressed",
            {"Content-Encoding": [f"{encoding[:40]!r} is not supported"]},
        )


async def read_body(request: web.Request, timeout_s: float = BODY_TIMEOUT_S) -> bytes:
    """The whole body, within `timeout_s` (a client that trickles it must not hold us)."""
    if request.content.is_eof():  # all of it has arrived (the usual case): nothing to time
        return await request.read()
    try:
        async with asyncio.timeout(timeout_s):
            return await request.read()
    except TimeoutError:
        raise RequestTimeout(
            f"the request body did not arrive within {timeout_s:g}s", {"body": ["too slow"]}
        ) from None


async def json_body(request: web.Request, schema: Schema) -> dict[str, Any]:
    """The JSON object in the body, decoded strictly and loaded by `schema`."""
    return load(schema, await json_object(request))


async def json_object(request: web.Request) -> dict[str, Any]:
    """The JSON object in the body, decoded strictly (not yet loaded by a schema)."""
    require_json(request)
    raw = await read_body(request)
    if not raw.strip():
        raise InvalidRequest("the body is empty; send a JSON object", {"body": ["required"]})
    try:
        data = strict_json.loads(raw)
    except strict_json.JsonRejected as exc:
        raise InvalidRequest(f"body rejected: {exc}", {exc.field: [str(exc)]}) from None
    if not isinstance(data, dict):
        raise InvalidRequest("body must be a JSON object", {"body": ["must be a JSON object"]})
    return data


def query(request: web.Request, schema: Schema) -> dict[str, Any]:
    repeated = [k for k in request.query if len(request.query.getall(k)) > 1]
    if repeated:
        raise InvalidRequest(
            "query parameters given twice", {k[:40]: ["given twice"] for k in repeated}
        )
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
        messages = _safe_keys(exc.messages)
        fields = sorted(messages) if isinstance(messages, dict) else []
        message = f"invalid field(s): {', '.join(fields)}" if fields else "invalid request"
        raise InvalidRequest(message, messages) from exc
    return loaded


def _safe_keys(messages: Any) -> Any:
    """Unknown field names come from the client: shown quoted and short when they are odd."""
    if not isinstance(messages, dict):
        return messages
    return {_safe_name(str(k)): v for k, v in messages.items()}


def _safe_name(name: str) -> str:
    return name if name.isprintable() and len(name) <= 64 else ascii(name[:40])
