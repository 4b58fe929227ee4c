"""Scheduler tables: the schedule catalog (operator overrides) and run history with unique slot claims.

Revision ID: 0002_scheduler
Revises: 0001_engine
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_scheduler"
down_revision = "0001_engine"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "conveyor_schedules",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("task", sa.String(255)),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("declared_cron", sa.String(255), nullable=False),
        sa.Column("declared_timezone", sa.String(64), nullable=False),
        sa.Column("cron", sa.String(255)),
        sa.Column("timezone", sa.String(64)),
        sa.Column("params", sa.Text),
        sa.Column("queue", sa.String(128)),
        sa.Column("enabled", sa.Boolean),
        sa.Column("orphaned", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("active_since", sa.Float, nullable=False),
        sa.Column("next_at", sa.Float),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_conveyor_schedules_next", "conveyor_schedules", ["next_at"])
    op.create_table(
        "conveyor_schedule_runs",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("schedule_key", sa.String(255), nullable=False),
        sa.Column("slot_at", sa.Float),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("job_id", sa.BigInteger),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float),
        sa.Column("finished_at", sa.Float),
        sqlite_autoincrement=True,
    )
    # The claim of a slot: one row per (schedule, slot), whoever inserts it first.
    op.create_index(
        "ux_conveyor_schedule_runs_slot", "conveyor_schedule_runs", ["schedule_key", "slot_at"], unique=True
    )
    op.create_index("ix_conveyor_schedule_runs_key", "conveyor_schedule_runs", ["schedule_key", "id"])
    op.create_index(
        "ix_conveyor_schedule_runs_open",
        "conveyor_schedule_runs",
        ["job_id"],
        postgresql_where=sa.text("status = 'queued'"),
        sqlite_where=sa.text("status = 'queued'"),
    )


def downgrade() -> None:
    op.drop_table("conveyor_schedule_runs")
    op.drop_table("conveyor_schedules")
