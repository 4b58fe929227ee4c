"""Parked records (records that failed run after run, kept visible and retried on their own back-off) and
the delivery count of webhook events.

Revision ID: 0002_parked_records
Revises: 0001_commerce
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_parked_records"
down_revision = "0001_commerce"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
CODE = 64


def upgrade() -> None:
    op.create_table(
        "commerce_parked_records",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("shop_id", sa.BigInteger, sa.ForeignKey("commerce_shops.id"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("code", sa.String(CODE), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=False),
        sa.Column("change_time", sa.String(40)),
        sa.Column("first_failed_at", sa.Float, nullable=False),
        sa.Column("last_failed_at", sa.Float, nullable=False),
        sa.Column("parked_at", sa.Float),
        sa.Column("next_retry_at", sa.Float),
        sa.Column("retries", sa.Integer, nullable=False, server_default=sa.text("0")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ux_commerce_parked_records_code", "commerce_parked_records", ["shop_id", "kind", "code"], unique=True
    )
    op.create_index("ix_commerce_parked_records_due", "commerce_parked_records", ["status", "next_retry_at"])
    op.add_column(
        "commerce_webhook_events", sa.Column("deliveries", sa.Integer, nullable=False, server_default=sa.text("1"))
    )


def downgrade() -> None:
    with op.batch_alter_table("commerce_webhook_events") as batch:
        batch.drop_column("deliveries")
    op.drop_index("ix_commerce_parked_records_due", table_name="commerce_parked_records")
    op.drop_index("ux_commerce_parked_records_code", table_name="commerce_parked_records")
    op.drop_table("commerce_parked_records")
