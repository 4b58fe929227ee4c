"""Alembic environment of the commerce tables: always run programmatically by
:mod:`conveyor.commerce.store.migrate`.

The connection is handed in through ``config.attributes["connection"]``. The commerce history has its own
version table, so it moves independently of the engine's (``conveyor_alembic_version``) and of an
application's own Alembic history in the same database.
"""

from __future__ import annotations

from alembic import context

from conveyor.commerce.store.schema import metadata

VERSION_TABLE = "commerce_alembic_version"

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
