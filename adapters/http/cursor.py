"""Opaque page cursors (presentation): the (created_at, task_id) of the last task of a page."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Final
from uuid import UUID

from chiffon.errors import InvalidRequest
from ports.task_repository import PageCursor

MAX_CURSOR_CHARS: Final = 200


def encode_cursor(cursor: PageCursor) -> str:
    raw = f"{cursor.created_at.astimezone(UTC).isoformat()}|{cursor.task_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> PageCursor:
    """The cursor `encode_cursor` made; anything else is 400/1000 naming `cursor`."""
    try:
        if len(text) > MAX_CURSOR_CHARS:
            raise ValueError("too long")
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        stamp, _, task_id = raw.partition("|")
        created_at = datetime.fromisoformat(stamp)
        if created_at.tzinfo is None:
            raise ValueError("naive timestamp")
        # Normalised to UTC here, so an odd offset cannot overflow later in a store.
        return PageCursor(created_at=created_at.astimezone(UTC), task_id=UUID(task_id))
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidRequest(
            "cursor is not valid", {"cursor": ["not a cursor from next_cursor"]}
        ) from exc
