"""Baseline (d): Celery 5 on RabbitMQ with the PostgreSQL (SQLAlchemy) result backend."""
