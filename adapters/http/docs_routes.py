"""GET /api/openapi.json (the OpenAPI 3 document) and /api/docs (Swagger UI reading it)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Final

import aiohttp_apispec
from aiohttp import web

from adapters.http.openapi_document import build_document

DOCUMENT_URL: Final = "/api/openapi.json"
# Where the document was served before OpenAPI 3; kept so existing links and tools still work.
LEGACY_DOCUMENT_URL: Final = "/api/docs/swagger.json"
DOCS_PAGE: Final = "/api/docs"
SWAGGER_STATIC: Final = "/static/swagger"
TITLE: Final = "chiffon"
DESCRIPTION: Final = (
    "Dispatch units of work to typed agents and track them to the end. Every error answer is "
    "`{error_code, error_message, trace_id, details}`; the codes are listed in the Error "
    "schema and in docs/api.md. Send `X-Trace-Id` (a UUID) to correlate a call with its task, "
    "its events and its log lines; every answer carries `X-Trace-Id` and `X-Request-Id`."
)
_SWAGGER_FILES: Final = Path(aiohttp_apispec.__file__).parent / "static"


def install(app: web.Application, *, version: str, secured: bool) -> None:
    """The document is built on its first request (not at start: most processes and tests
    never ask for it) and kept; the app's routes do not change once it serves."""
    built: list[bytes] = []

    async def document(request: web.Request) -> web.Response:
        if not built:
            doc = build_document(
                request.app, title=TITLE, version=version, description=DESCRIPTION, secured=secured
            )
            built.append(json.dumps(doc).encode())
        return web.Response(body=built[0], content_type="application/json")

    def file(name: str, content_type: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        body = (resources.files("adapters.http") / "docs_page" / name).read_bytes()

        async def serve(_: web.Request) -> web.Response:
            return web.Response(body=body, content_type=content_type, charset="utf-8")

        return serve

    app.router.add_get(DOCUMENT_URL, document, allow_head=False)
    app.router.add_get(LEGACY_DOCUMENT_URL, document, allow_head=False)
    # Our own page and initializer (no inline script, for the CSP; chiffon's document only).
    app.router.add_get(DOCS_PAGE, file("index.html", "text/html"), allow_head=False)
    app.router.add_get(f"{DOCS_PAGE}/init.js", file("init.js", "text/javascript"))
    app.router.add_get(f"{DOCS_PAGE}/docs.css", file("docs.css", "text/css"))
    app.router.add_static(SWAGGER_STATIC, _SWAGGER_FILES)
