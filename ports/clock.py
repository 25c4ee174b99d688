"""Ports: time and identifiers, so tests control both."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID


class Clock(Protocol):
    """Wall-clock time."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class IdFactory(Protocol):
    """New unique identifiers."""

    def new_id(self) -> UUID:
        """A fresh UUID, never returned before."""
        ...
