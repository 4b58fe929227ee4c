"""Alembic script directory of the commerce tables (its own history, version table ``commerce_alembic_version``)."""
