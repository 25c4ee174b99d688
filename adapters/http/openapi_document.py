"""The OpenAPI 3.0.3 document, built from the routes' aiohttp-apispec metadata on first request.

aiohttp-apispec's decorators (`docs`, `json_schema`, `response_schema`, ...) stay on the
handlers: they say what each operation takes and answers. Its own document builder writes
Swagger 2.0 shapes even when asked for OpenAPI 3 (a JSON body as an `in: body` parameter,
`consumes`, `securityDefinitions`) and pays for the whole document on every app start; this
module reads the same metadata and writes an OpenAPI 3 document that openapi-spec-validator
and client generators accept, once, when someone asks for it.
"""

from __future__ import annotations

import copy
from typing import Any, Final

from aiohttp import web
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_cls, resolve_schema_instance
from marshmallow import fields

OPENAPI_VERSION: Final = "3.0.3"
# aiohttp-apispec's names for where a schema is read from -> OpenAPI's `in`.
LOCATIONS: Final = {"match_info": "path", "querystring": "query", "headers": "header"}
# Keys of aiohttp-apispec's metadata that are Swagger 2.0 only, or handled here.
NOT_OPENAPI_3: Final = frozenset({"schemas", "responses", "parameters", "produces", "consumes"})
# "null, and nothing else" in OpenAPI 3.0.3 (which has no null type): an enum of null only.
NULL_ONLY: Final = {"type": "string", "nullable": True, "enum": [None]}
SECURITY_SCHEMES: Final = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer <token>` when the server runs with "
        "CHIFFON_API_TOKEN (the scheme word is case-insensitive). /health never needs it.",
    }
}


def schema_name(schema: Any) -> str:
    """`DispatchRequestSchema` -> `DispatchRequest`; a partial schema gets a prefix."""
    instance = resolve_schema_instance(schema)
    cls = resolve_schema_cls(schema)
    cls = cls[0] if isinstance(cls, list) else cls
    name = cls.__name__.removesuffix("Schema") or "Schema"
    return f"Partial{name}" if instance.partial else name


def build_document(
    app: web.Application, *, title: str, version: str, description: str, secured: bool
) -> dict[str, Any]:
    """The document of every documented GET/POST/... route of `app` (HEAD twins left out).
    `secured`: every operation needs the bearer token unless it says `security=[]`."""
    plugin = MarshmallowPlugin(schema_name_resolver=schema_name)
    spec = APISpec(
        title=title,
        version=version,
        openapi_version=OPENAPI_VERSION,
        plugins=[plugin],
        info={"description": description},
        security=[{"bearer": []}] if secured else [],
    )
    plugin.converter.add_attribute_function(json_shapes)  # type: ignore[union-attr]
    spec.components.security_scheme("bearer", SECURITY_SCHEMES["bearer"])
    for route in app.router.routes():
        meta = getattr(route.handler, "__apispec__", None)
        if meta is None or route.method in ("HEAD", "*") or route.resource is None:
            continue
        operation = _operation(meta)
        spec.path(path=route.resource.canonical, operations={route.method.lower(): operation})
    return spec.to_dict()


def json_shapes(converter: Any, field: fields.Field[Any], **kwargs: Any) -> dict[str, Any]:
    """What generators need that apispec leaves out: a free-form object (parameters, result,
    resources) says `additionalProperties: true` (apispec writes `{}`, which some generators
    read as "a dict of dicts"), an enum of strings says it is a string, a nullable enum is
    "one of these, or null" as generators read it, and no field that refuses null says null
    is its default."""
    ret = kwargs["ret"]
    if "default" in ret and ret["default"] is None and not field.allow_none:
        del ret["default"]  # "absent" said as null: a value the field refuses, not a default
    if None in ret.get("enum", ()) and ret.get("nullable"):
        return _nullable_choice(converter, field.name or "choice", ret)
    if isinstance(field, fields.Nested) and field.allow_none and "anyOf" in ret:
        # apispec's "this object or null" is anyOf [it, any object]: say only null.
        return {"anyOf": [ret.pop("anyOf")[0], {**NULL_ONLY, "type": "object"}]}
    if isinstance(field, fields.Dict) and field.value_field is None:
        return {"additionalProperties": True}
    if isinstance(field, fields.Enum) and all(isinstance(v, str) for v in ret["enum"]):
        return {"type": "string"}
    return {}


def _nullable_choice(converter: Any, name: str, ret: dict[str, Any]) -> dict[str, Any]:
    """`{type: string, nullable, enum: [a, b, null]}` is valid OpenAPI 3.0, but generators
    make one class per branch of it. Said as "the named enum, or null" (the null branch has
    to list null itself: in 3.0.3 an enum leaves null out unless it names it), a generated
    client types it `WaitingReason | None`."""
    component = "".join(part.capitalize() for part in name.split("_"))
    choices = [v for v in ret.pop("enum") if v is not None]
    if component not in converter.spec.components.schemas:
        converter.spec.components.schema(component, {"type": "string", "enum": choices})
    del ret["type"], ret["nullable"]
    return {"anyOf": [{"$ref": f"#/components/schemas/{component}"}, NULL_ONLY]}


def _operation(meta: dict[str, Any]) -> dict[str, Any]:
    # New dicts all the way down to the schemas: apispec rewrites what it is given, and the
    # metadata belongs to the handler, shared by every app of the process.
    operation = {k: copy.copy(v) for k, v in meta.items() if k not in NOT_OPENAPI_3}
    parameters: list[dict[str, Any]] = [dict(p) for p in meta.get("parameters", [])]
    for entry in meta.get("schemas", []):
        if entry["location"] == "json":
            operation["requestBody"] = {
                "required": bool(entry["options"].get("required", False)),
                "content": {"application/json": {"schema": entry["schema"]}},
            }
        else:
            where = LOCATIONS.get(entry["location"], entry["location"])
            parameters.append({"in": where, "schema": entry["schema"]})
    if parameters:
        operation["parameters"] = parameters
    operation["responses"] = {
        str(code): _response(answer) for code, answer in meta.get("responses", {}).items()
    }
    return operation


def _response(answer: dict[str, Any]) -> dict[str, Any]:
    """A response of the metadata: its schema (JSON) under `content`, or as given."""
    out = {k: v for k, v in answer.items() if k not in ("schema", "required")}
    out.setdefault("description", "")
    if "schema" in answer:
        out["content"] = {"application/json": {"schema": answer["schema"]}}
    return out
