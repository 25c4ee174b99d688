"""Who may report what over the broker, checked without trusting the broker's login (every
agent shares one): a lease token for each attempt, and an identity each agent proves.

- A task's attempt is worked on by whoever received its work message: the orchestrator puts a
  lease token in it, an HMAC of (task_id, attempt) under a key only orchestrator replicas
  hold, and every status and result for that attempt must carry it back. A forged report (a
  random agent_id, a task delayed a year that was never sent anyone) has no token.
- What a replica announces to the others on the notify exchange is signed with the same key.
- An agent's id is derived from a secret key it keeps (the first 16 bytes of a hash, as a
  UUID): its heartbeats and goodbye carry the key, and one whose key does not give its id is
  not from that agent. Knowing an id (the API lists them) does not give the key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Final
from uuid import UUID

import attrs

KEY_BYTES: Final = 32
MAX_TOKEN_CHARS: Final = 64  # a lease token is 43 characters; an agent key 43 or so
_LEASE: Final = b"chiffon lease v1\x00"
_NOTIFY: Final = b"chiffon notify v1\x00"
_AGENT_ID: Final = b"chiffon agent id v1\x00"
_BLOCK: Final = 64  # SHA-256's block size, in bytes


class ReplicaKey:
    """The secret orchestrator replicas share: issues and checks the lease token of one attempt
    of one task, and signs what replicas tell each other."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a lease key needs at least 16 bytes")
        # HMAC-SHA256 (RFC 2104) with the key's two padded blocks hashed once, here: a MAC is
        # then two copies of those states, a third of hmac.new's time, which derives them
        # again for every lease issued (each dispatch) and checked (each report).
        block = hashlib.sha256(key).digest() if len(key) > _BLOCK else key
        block = block.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    @classmethod
    def random(cls) -> ReplicaKey:
        """For one process (memory mode): nobody else needs to check its leases."""
        return cls(secrets.token_bytes(KEY_BYTES))

    def lease(self, task_id: UUID, attempt: int) -> str:
        return self._mac(_LEASE + task_id.bytes + attempt.to_bytes(8, "big", signed=True))

    def holds_lease(self, task_id: UUID, attempt: int, token: str) -> bool:
        if not token or len(token) > MAX_TOKEN_CHARS:
            return False
        return hmac.compare_digest(token.encode(), self.lease(task_id, attempt).encode())

    def sign(self, data: bytes) -> str:
        return self._mac(_NOTIFY + data)

    def signed(self, data: bytes, signature: str) -> bool:
        return hmac.compare_digest(signature.encode(), self.sign(data).encode())

    def _mac(self, message: bytes) -> str:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return base64.urlsafe_b64encode(outer.digest()).rstrip(b"=").decode()


def new_agent_key() -> str:
    return secrets.token_urlsafe(KEY_BYTES)


def agent_id_for(agent_key: str) -> UUID:
    """The id an agent holding `agent_key` has (a random-looking version 4 UUID)."""
    digest = hashlib.sha256(_AGENT_ID + agent_key.encode("utf-8", "surrogatepass")).digest()
    return UUID(bytes=digest[:16], version=4)


@attrs.frozen
class AgentIdentity:
    """Who an agent is: its type, and the key that proves its id (the id derives from it)."""

    agent_type: str
    key: str = attrs.field(repr=False)  # never logged
    agent_id: UUID = attrs.field(init=False)

    @agent_id.default
    def _derived(self) -> UUID:
        return agent_id_for(self.key)


def is_agent(agent_id: UUID, agent_key: str) -> bool:
    if not agent_key or len(agent_key) > MAX_TOKEN_CHARS:
        return False
    return hmac.compare_digest(agent_id_for(agent_key).bytes, agent_id.bytes)
