"""Driving-side client of the HTTP API: a typed async Python client and the CLI client verbs.

It speaks only the JSON API (REST and /api/v1/ws); it knows nothing of the server's code.
"""

from adapters.http.client.api import Accepted, Client, TaskJson
from adapters.http.client.errors import ApiError, ChiffonClientError, ServerUnreachable

__all__ = ["Accepted", "ApiError", "ChiffonClientError", "Client", "ServerUnreachable", "TaskJson"]
