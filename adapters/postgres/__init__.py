"""Driven adapters on PostgreSQL (asyncpg): pool, SQL migrations, repository, registry, outbox."""
