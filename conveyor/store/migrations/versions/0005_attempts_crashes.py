"""Jobs: ``started_at`` (the body of the current attempt began) and ``crashes`` (worker deaths while running).

Revision ID: 0005_attempts_crashes
Revises: 0004_fetch_index_desc
Create Date: 2026-12-07

``started_at`` tells a job a runner thread started from one that was only fetched into a worker's buffer,
so rescue after a lost worker charges an attempt only to jobs that really ran (issue #10, item 1).
``crashes`` counts the deaths of worker processes a job was running in; after
``crash_quarantine_after`` of them the job is discarded instead of taking more workers down (item 3).

Plain ``ADD COLUMN`` (constant default) on both databases: no table rebuild on SQLite, so nothing that
0004 restored (index direction, AUTOINCREMENT) is lost again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_attempts_crashes"
down_revision = "0004_fetch_index_desc"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("conveyor_jobs", sa.Column("started_at", sa.Float))
    op.add_column("conveyor_jobs", sa.Column("crashes", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    op.drop_column("conveyor_jobs", "crashes")
    op.drop_column("conveyor_jobs", "started_at")
