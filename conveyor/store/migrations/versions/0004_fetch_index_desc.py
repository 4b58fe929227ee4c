"""SQLite: give conveyor_jobs back the schema 0001 declared (fetch index ``priority DESC``, AUTOINCREMENT ids).

Revision ID: 0004_fetch_index_desc
Revises: 0003_coordination
Create Date: 2026-12-07

Why SQLite lost them (issue #18). Migration 0003 adds ``cancel_requested`` with
``server_default=sa.text("false")`` inside ``op.batch_alter_table("conveyor_jobs")``. On SQLite, Alembic's
batch mode can use ``ALTER TABLE ADD COLUMN`` only when no added column has a SQL-expression default
(``SQLiteImpl.requires_recreate_in_batch``), so it "moves and copies" instead: it *reflects* the table,
creates a new one from the reflection, copies the rows and recreates the indexes from the reflected ones.
Reflection is where the schema degrades:

* SQLAlchemy's SQLite ``get_indexes`` reads ``PRAGMA index_info``, which has no sort direction (only
  ``index_xinfo`` has the ``desc`` flag), so ``(queue, priority DESC, id)`` came back as
  ``(queue, priority, id)``. The partial predicate survives (it is parsed from ``sqlite_master.sql``).
* ``sqlite_autoincrement`` is not reflected either, so ``id INTEGER PRIMARY KEY AUTOINCREMENT`` became a
  plain rowid alias: SQLite then hands out ``max(id) + 1``, reusing the ids of the newest jobs once they are
  pruned (a schedule run or batch callback would then point at an unrelated job).

PostgreSQL runs ``ALTER TABLE`` in place, so it kept both; this migration changes nothing there.

The fetch query orders by ``priority DESC, id``; with the ascending index SQLite's plan was ``USE TEMP
B-TREE FOR RIGHT PART OF ORDER BY``: every fetch sorted the queue's whole backlog while holding the write
lock (throughput fell 4x between 40,000 and 200,000 waiting jobs). Here SQLite rebuilds the table with
AUTOINCREMENT (rows and ids kept; ``sqlite_sequence`` starts after the highest id) and recreates the fetch
index with its direction. ``tests/store/test_schema_matches_migrations.py`` compares a migrated database
with one built from ``conveyor/store/schema.py`` on both databases, so a later batch migration that
degrades the schema again fails the tests instead of the benchmark.

Downgrade changes nothing: the schema this produces is the one 0001–0003 declare.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_fetch_index_desc"
down_revision = "0003_coordination"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # recreate="always": a rebuild is the only way to add AUTOINCREMENT in SQLite. It recreates the
    # indexes from reflection again (ascending), so the fetch index is rebuilt with its direction after.
    with op.batch_alter_table("conveyor_jobs", recreate="always", table_kwargs={"sqlite_autoincrement": True}):
        pass
    op.drop_index("ix_conveyor_jobs_fetch", "conveyor_jobs")
    op.create_index(
        "ix_conveyor_jobs_fetch",
        "conveyor_jobs",
        ["queue", sa.text("priority DESC"), "id"],
        sqlite_where=sa.text("state = 'available'"),
    )


def downgrade() -> None:
    pass
