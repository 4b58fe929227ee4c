"""Coordination: job lock/unique keys, batches, progress and cancel flags; named locks; rate limits;
per-queue global concurrency limits.

Revision ID: 0003_coordination
Revises: 0002_scheduler
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_coordination"
down_revision = "0002_scheduler"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("conveyor_jobs") as b:
        b.add_column(sa.Column("lock_key", sa.String(255)))
        b.add_column(sa.Column("unique_key", sa.String(255)))
        # The states in which the unique key is enforced, as ",available,scheduled,": the unique index's
        # predicate reads it, so each job carries its own uniqueness rule (River's unique_states).
        b.add_column(sa.Column("unique_states", sa.String(128)))
        b.add_column(sa.Column("batch_id", sa.BigInteger))
        b.add_column(sa.Column("progress", sa.Text))
        b.add_column(sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.text("false")))
    contains = (
        "strpos(unique_states, ',' || state || ',') > 0"
        if dialect == "postgresql"
        else ("instr(unique_states, ',' || state || ',') > 0")
    )
    unique_where = f"unique_key IS NOT NULL AND {contains}"
    op.create_index(
        "ux_conveyor_jobs_unique",
        "conveyor_jobs",
        ["unique_key"],
        unique=True,
        postgresql_where=sa.text(unique_where),
        sqlite_where=sa.text(unique_where),
    )
    op.create_index(
        "ix_conveyor_jobs_batch",
        "conveyor_jobs",
        ["batch_id", "state"],
        postgresql_where=sa.text("batch_id IS NOT NULL"),
        sqlite_where=sa.text("batch_id IS NOT NULL"),
    )
    op.create_index(
        "ix_conveyor_jobs_lock_executing",
        "conveyor_jobs",
        ["lock_key"],
        unique=True,
        postgresql_where=sa.text("lock_key IS NOT NULL AND state = 'executing'"),
        sqlite_where=sa.text("lock_key IS NOT NULL AND state = 'executing'"),
    )
    with op.batch_alter_table("conveyor_queues") as b:
        b.add_column(sa.Column("global_limit", sa.Integer))
    op.create_table(
        "conveyor_locks",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("acquired_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_table(
        "conveyor_rate_limits",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("tokens", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "conveyor_batches",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("completed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("failed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("cancelled", sa.Integer, nullable=False, server_default="0"),
        sa.Column("on_complete", sa.String(255)),
        sa.Column("on_failure", sa.String(255)),
        sa.Column("callback_queue", sa.String(128)),
        sa.Column("callback_job_id", sa.BigInteger),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_conveyor_batches_created", "conveyor_batches", ["created_at"])


def downgrade() -> None:
    op.drop_table("conveyor_batches")
    op.drop_table("conveyor_rate_limits")
    op.drop_table("conveyor_locks")
    with op.batch_alter_table("conveyor_queues") as b:
        b.drop_column("global_limit")
    op.drop_index("ix_conveyor_jobs_lock_executing", "conveyor_jobs")
    op.drop_index("ix_conveyor_jobs_batch", "conveyor_jobs")
    op.drop_index("ux_conveyor_jobs_unique", "conveyor_jobs")
    with op.batch_alter_table("conveyor_jobs") as b:
        for col in ("cancel_requested", "progress", "batch_id", "unique_states", "unique_key", "lock_key"):
            b.drop_column(col)
