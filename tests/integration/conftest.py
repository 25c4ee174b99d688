from tests.pg_fixtures import pg_database, pg_pool

__all__ = ["pg_database", "pg_pool"]
