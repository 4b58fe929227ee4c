"""Engine tables: jobs, job errors, queues, workers; PostgreSQL insert notification.

Revision ID: 0001_engine
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_engine"
down_revision = None
branch_labels = ("conveyor",)
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _partial(condition: str) -> dict[str, sa.TextClause]:
    return {"postgresql_where": sa.text(condition), "sqlite_where": sa.text(condition)}


def upgrade() -> None:
    op.create_table(
        "conveyor_jobs",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("queue", sa.String(128), nullable=False),
        sa.Column("task", sa.String(255), nullable=False),
        sa.Column("args", sa.Text, nullable=False),
        sa.Column("kwargs", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
        sa.Column("attempt", sa.Integer, nullable=False, server_default="0"),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("timeout", sa.Float),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("scheduled_at", sa.Float, nullable=False),
        sa.Column("attempted_at", sa.Float),
        sa.Column("finished_at", sa.Float),
        sa.Column("lease_expires_at", sa.Float),
        sa.Column("worker_id", sa.String(128)),
        sa.Column("result", sa.Text),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_conveyor_jobs_fetch",
        "conveyor_jobs",
        ["queue", sa.text("priority DESC"), "id"],
        **_partial("state = 'available'"),
    )
    op.create_index(
        "ix_conveyor_jobs_stage",
        "conveyor_jobs",
        ["scheduled_at"],
        **_partial("state IN ('scheduled', 'retryable')"),
    )
    op.create_index(
        "ix_conveyor_jobs_executing",
        "conveyor_jobs",
        ["lease_expires_at"],
        **_partial("state = 'executing'"),
    )
    op.create_index(
        "ix_conveyor_jobs_finished",
        "conveyor_jobs",
        ["state", "finished_at"],
        **_partial("state IN ('completed', 'discarded', 'cancelled')"),
    )
    op.create_table(
        "conveyor_job_errors",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.BigInteger, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("traceback", sa.Text),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_conveyor_job_errors_job_id", "conveyor_job_errors", ["job_id"])
    op.create_table(
        "conveyor_queues",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "conveyor_workers",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("queues", sa.Text, nullable=False),
        sa.Column("processes", sa.Integer, nullable=False),
        sa.Column("concurrency", sa.Integer, nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("heartbeat_at", sa.Float, nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        # One NOTIFY per inserting statement (not per row), so idle workers wake at once instead of
        # polling; NOTIFY is delivered at commit, and identical notifications in a transaction fold into
        # one. No transition table: it would make every bulk COPY keep a copy of its rows.
        op.execute(
            """
            CREATE FUNCTION conveyor_notify_insert() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              PERFORM pg_notify('conveyor_jobs', '');
              RETURN NULL;
            END $$
            """
        )
        op.execute(
            """
            CREATE TRIGGER conveyor_jobs_notify_insert AFTER INSERT ON conveyor_jobs
            FOR EACH STATEMENT EXECUTE FUNCTION conveyor_notify_insert()
            """
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS conveyor_jobs_notify_insert ON conveyor_jobs")
        op.execute("DROP FUNCTION IF EXISTS conveyor_notify_insert()")
    op.drop_table("conveyor_workers")
    op.drop_table("conveyor_queues")
    op.drop_table("conveyor_job_errors")
    op.drop_table("conveyor_jobs")
