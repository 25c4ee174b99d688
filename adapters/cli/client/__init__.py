"""Driving-side client of the HTTP API: a typed async Python client and the CLI client verbs.

It speaks only the JSON API (REST and /api/v1/ws); it knows nothing of the server's code.
The names below load on first use, so the command line's parse (arguments.py) loads none of
them (`chiffon --version` stays fast).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adapters.cli.client.api import Accepted, Client, TaskJson
    from adapters.cli.client.errors import ApiError, ChiffonClientError, ServerUnreachable

__all__ = ["Accepted", "ApiError", "ChiffonClientError", "Client", "ServerUnreachable", "TaskJson"]
_HOME = {"Accepted": "api", "Client": "api", "TaskJson": "api"} | dict.fromkeys(
    ("ApiError", "ChiffonClientError", "ServerUnreachable"), "errors"
)


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
