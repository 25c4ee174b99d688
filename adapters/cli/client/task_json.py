"""A task as the API answers it: its JSON object (docs/api.md shows the fields)."""

from __future__ import annotations

from typing import Any

TaskJson = dict[str, Any]
