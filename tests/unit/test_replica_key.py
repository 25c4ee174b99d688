"""ReplicaKey's MAC is HMAC-SHA256, whatever the key's length: its padded key blocks are
hashed once, and every lease and signature is what hmac.new gives."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from uuid import uuid4

import pytest

from chiffon.credentials import ReplicaKey


def _expected(key: bytes, message: bytes) -> str:
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@pytest.mark.parametrize("length", [16, 32, 63, 64, 65, 100, 500])
def test_leases_and_signatures_are_hmac_sha256(length: int) -> None:
    key = os.urandom(length)
    replica = ReplicaKey(key)
    for attempt in (1, 2, 2**40):
        task_id = uuid4()
        said = b"chiffon lease v1\x00" + task_id.bytes + attempt.to_bytes(8, "big", signed=True)
        token = replica.lease(task_id, attempt)
        assert token == _expected(key, said)
        assert replica.holds_lease(task_id, attempt, token)
        assert not replica.holds_lease(task_id, attempt + 1, token)
    body = os.urandom(300)
    assert replica.sign(body) == _expected(key, b"chiffon notify v1\x00" + body)
    assert replica.signed(body, replica.sign(body))
    assert not ReplicaKey(os.urandom(length)).signed(body, replica.sign(body))
