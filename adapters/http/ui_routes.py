"""The dashboard: GET / and /ui redirect to /ui/, which serves the page shipped in ui/."""

from __future__ import annotations

import hashlib
from importlib import resources
from typing import Final

import attrs
from aiohttp import web

UI_PREFIX: Final = "/ui/"
PACKAGE_DIR: Final = "ui"
CONTENT_TYPES: Final = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}
TEXT_SUFFIXES: Final = (".html", ".js", ".css", ".svg")


@attrs.frozen
class StaticFile:
    body: bytes
    content_type: str
    charset: str | None
    etag: str


def load_files() -> dict[str, StaticFile]:
    """Every file of the ui/ folder, read once: the page is small, and serving only names
    found here leaves no path to traverse."""
    files: dict[str, StaticFile] = {}
    for entry in (resources.files("adapters.http") / PACKAGE_DIR).iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if not entry.is_file() or suffix not in CONTENT_TYPES:
            continue
        body = entry.read_bytes()
        charset = "utf-8" if suffix in TEXT_SUFFIXES else None
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        files[entry.name] = StaticFile(body, CONTENT_TYPES[suffix], charset, etag)
    return files


def install(app: web.Application) -> None:
    files = load_files()

    async def redirect(_: web.Request) -> web.Response:
        raise web.HTTPFound(UI_PREFIX)

    async def serve(request: web.Request) -> web.Response:
        found = files.get(request.match_info.get("name") or "index.html")
        if found is None:
            raise web.HTTPNotFound(reason="no such dashboard file")
        # no-cache: the browser revalidates every load, so a new version shows at once,
        # and the ETag makes an unchanged file a cheap 304.
        headers = {"Cache-Control": "no-cache", "ETag": found.etag}
        if request.headers.get("If-None-Match") == found.etag:
            return web.Response(status=304, headers=headers)
        return web.Response(
            body=found.body, content_type=found.content_type, charset=found.charset, headers=headers
        )

    app.router.add_get("/", redirect, allow_head=False)
    app.router.add_get("/ui", redirect, allow_head=False)
    app.router.add_get(UI_PREFIX, serve)
    app.router.add_get(UI_PREFIX + "{name}", serve)
