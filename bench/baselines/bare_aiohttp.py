"""Baseline (a), the HTTP ceiling: a bare aiohttp handler that parses a JSON body and answers JSON.

    .venv/bin/python bench/baselines/bare_aiohttp.py --port 8090

POST /api/v1/dispatch takes the same body as chiffon's dispatch (bench/dispatch.lua drives both)
and answers `{"task_id": ..., "status": "pending"}`; nothing is stored or sent.
"""

from __future__ import annotations

import sys
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import serve, server_args


async def dispatch(request: web.Request) -> web.Response:
    try:
        body = await request.json()
        task_id = body["task_id"]
    except (ValueError, KeyError, TypeError):
        return web.json_response({"error_code": 1000}, status=400)
    return web.json_response({"task_id": task_id, "status": "pending"})


async def health(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/api/v1/dispatch", dispatch)
    app.router.add_get("/health", health)
    return app


def main() -> None:
    a = server_args(__doc__.splitlines()[0]).parse_args()
    serve(make_app(), a.host, a.port)


if __name__ == "__main__":
    main()
