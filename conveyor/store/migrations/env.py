"""Alembic environment: always run programmatically by :mod:`conveyor.store.migrate`.

The connection is handed in through ``config.attributes["connection"]``; Conveyor keeps its own version
table so it never collides with an application's Alembic history in the same database.
"""

from __future__ import annotations

from alembic import context

from conveyor.store.schema import metadata

VERSION_TABLE = "conveyor_alembic_version"

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
