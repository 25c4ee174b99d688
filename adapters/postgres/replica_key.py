"""Driven adapter: the secret orchestrator replicas share, kept in the database they share (the
first replica to start makes it; every replica reads the same one)."""

from __future__ import annotations

import secrets

import asyncpg

KEY_BYTES = 32


async def shared_secret(pool: asyncpg.Pool) -> bytes:
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO replica_keys (name, secret) VALUES ('replica', $1) "
            "ON CONFLICT (name) DO NOTHING",
            secrets.token_bytes(KEY_BYTES),
        )
        secret: bytes = await conn.fetchval(
            "SELECT secret FROM replica_keys WHERE name = 'replica'"
        )
    return secret
