"""Opaque pagination cursors: the (created_at, task_id) of the last task of a page."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from uuid import UUID

from chiffon.errors import InvalidRequest
from ports.task_repository import PageCursor


def encode_cursor(cursor: PageCursor) -> str:
    raw = f"{cursor.created_at.isoformat()}|{cursor.task_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> PageCursor:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        stamp, _, task_id = raw.partition("|")
        created_at = datetime.fromisoformat(stamp)
        if created_at.tzinfo is None:
            raise ValueError("naive timestamp")
        return PageCursor(created_at=created_at, task_id=UUID(task_id))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidRequest(
            "cursor is not valid", {"cursor": ["not a cursor from next_cursor"]}
        ) from exc
