"""Commerce tables: shops, customers, orders, order items, products, variants, sync cursors, pipeline
executions and their record errors, webhook events, snapshot files.

Revision ID: 0001_commerce
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001_commerce"
down_revision = None
branch_labels = ("commerce",)
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MONEY = sa.Numeric(14, 2)
AMOUNT = sa.Numeric(14, 3)
RATE = sa.Numeric(5, 2)
CODE = 64


def _partial(condition: str) -> dict[str, Any]:
    return {"postgresql_where": sa.text(condition), "sqlite_where": sa.text(condition)}


def _shop_id() -> sa.Column[int]:
    return sa.Column("shop_id", sa.BigInteger, sa.ForeignKey("commerce_shops.id"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "commerce_shops",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("base_url", sa.Text, nullable=False),
        sa.Column("credentials", sa.Text, nullable=False),
        sa.Column("is_master", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ux_commerce_shops_name", "commerce_shops", ["name"], unique=True)
    op.create_index("ux_commerce_shops_master", "commerce_shops", ["is_master"], unique=True, **_partial("is_master"))

    op.create_table(
        "commerce_customers",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        _shop_id(),
        sa.Column("guid", sa.String(CODE), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("email", sa.String(255)),
        sa.Column("phone", sa.String(CODE)),
        sa.Column("full_name", sa.Text),
        sa.Column("company", sa.Text),
        sa.Column("billing_address", sa.Text),
        sa.Column("delivery_addresses", sa.Text),
        sa.Column("customer_group", sa.Text),
        sa.Column("creation_time", sa.Float),
        sa.Column("change_time", sa.Float),
        sa.Column("content_hash", sa.String(32), nullable=False),
        sa.Column("imported_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("source", sa.Text),
        sqlite_autoincrement=True,
    )
    op.create_index("ux_commerce_customers_guid", "commerce_customers", ["shop_id", "guid"], unique=True)
    op.create_index("ix_commerce_customers_email", "commerce_customers", ["shop_id", "email"])

    op.create_table(
        "commerce_orders",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        _shop_id(),
        sa.Column("code", sa.String(CODE), nullable=False),
        sa.Column("guid", sa.String(CODE)),
        sa.Column("status_id", sa.Integer),
        sa.Column("status_name", sa.Text),
        sa.Column("paid", sa.Boolean),
        sa.Column("payment_method", sa.Text),
        sa.Column("shipping_method", sa.Text),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("exchange_rate", sa.Numeric(18, 8)),
        sa.Column("total_net", MONEY),
        sa.Column("total_gross", MONEY),
        sa.Column("total_vat", MONEY),
        sa.Column("customer_guid", sa.String(CODE)),
        sa.Column("customer_id", sa.BigInteger, sa.ForeignKey("commerce_customers.id")),
        sa.Column("email", sa.String(255)),
        sa.Column("phone", sa.String(CODE)),
        sa.Column("full_name", sa.Text),
        sa.Column("company", sa.Text),
        sa.Column("country_code", sa.String(2)),
        sa.Column("creation_time", sa.Float),
        sa.Column("change_time", sa.Float),
        sa.Column("content_hash", sa.String(32), nullable=False),
        sa.Column("imported_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ux_commerce_orders_code", "commerce_orders", ["shop_id", "code"], unique=True)
    op.create_index("ix_commerce_orders_changed", "commerce_orders", ["shop_id", "change_time", "id"])
    op.create_index("ix_commerce_orders_created", "commerce_orders", ["shop_id", "creation_time", "id"])
    op.create_index("ix_commerce_orders_status", "commerce_orders", ["shop_id", "status_id", "id"])
    op.create_index("ix_commerce_orders_customer", "commerce_orders", ["customer_id"])
    op.create_index(
        "ix_commerce_orders_no_customer", "commerce_orders", ["shop_id", "id"], **_partial("customer_id IS NULL")
    )

    op.create_table(
        "commerce_order_items",
        sa.Column("order_id", sa.BigInteger, sa.ForeignKey("commerce_orders.id"), nullable=False),
        sa.Column("item_id", sa.BigInteger, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("item_type", sa.String(32), nullable=False),
        sa.Column("code", sa.String(CODE)),
        sa.Column("product_guid", sa.String(CODE)),
        sa.Column("ean", sa.String(CODE)),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("variant_name", sa.Text),
        sa.Column("quantity", AMOUNT),
        sa.Column("unit", sa.String(32)),
        sa.Column("unit_price_net", MONEY),
        sa.Column("unit_price_gross", MONEY),
        sa.Column("total_net", MONEY),
        sa.Column("total_gross", MONEY),
        sa.Column("total_vat", MONEY),
        sa.Column("vat_rate", RATE),
        sa.Column("content_hash", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("order_id", "item_id", name="pk_commerce_order_items"),
        sqlite_with_rowid=False,
    )

    op.create_table(
        "commerce_products",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        _shop_id(),
        sa.Column("guid", sa.String(CODE), nullable=False),
        sa.Column("name", sa.Text),
        sa.Column("type", sa.String(32)),
        sa.Column("visibility", sa.String(32)),
        sa.Column("brand", sa.Text),
        sa.Column("url", sa.Text),
        sa.Column("creation_time", sa.Float),
        sa.Column("change_time", sa.Float),
        sa.Column("content_hash", sa.String(32), nullable=False),
        sa.Column("imported_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ux_commerce_products_guid", "commerce_products", ["shop_id", "guid"], unique=True)
    op.create_index("ix_commerce_products_changed", "commerce_products", ["shop_id", "change_time", "id"])

    op.create_table(
        "commerce_variants",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        _shop_id(),
        sa.Column("product_id", sa.BigInteger, sa.ForeignKey("commerce_products.id"), nullable=False),
        sa.Column("code", sa.String(CODE), nullable=False),
        sa.Column("ean", sa.String(CODE)),
        sa.Column("name", sa.Text),
        sa.Column("stock", AMOUNT),
        sa.Column("unit", sa.String(32)),
        sa.Column("price", MONEY),
        sa.Column("price_includes_vat", sa.Boolean),
        sa.Column("vat_rate", RATE),
        sa.Column("currency", sa.String(3)),
        sa.Column("visible", sa.Boolean),
        sa.Column("content_hash", sa.String(32), nullable=False),
        sa.Column("imported_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ux_commerce_variants_code", "commerce_variants", ["shop_id", "code"], unique=True)
    op.create_index("ix_commerce_variants_ean", "commerce_variants", ["shop_id", "ean"])
    op.create_index("ix_commerce_variants_product", "commerce_variants", ["product_id"])

    op.create_table(
        "commerce_sync_cursors",
        _shop_id(),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("shop_id", "key", name="pk_commerce_sync_cursors"),
    )

    op.create_table(
        "commerce_pipeline_executions",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        _shop_id(),
        sa.Column("pipeline", sa.String(64), nullable=False),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("job_id", sa.BigInteger),
        sa.Column("queued_at", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float),
        sa.Column("finished_at", sa.Float),
        sa.Column("read", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created", sa.Integer, nullable=False, server_default="0"),
        sa.Column("updated", sa.Integer, nullable=False, server_default="0"),
        sa.Column("unchanged", sa.Integer, nullable=False, server_default="0"),
        sa.Column("failed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("error", sa.Text),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_commerce_executions_shop", "commerce_pipeline_executions", ["shop_id", "id"])
    op.create_index("ix_commerce_executions_pipeline", "commerce_pipeline_executions", ["shop_id", "pipeline", "id"])
    op.create_index(
        "ix_commerce_executions_active",
        "commerce_pipeline_executions",
        ["status"],
        **_partial("status IN ('queued', 'running')"),
    )

    op.create_table(
        "commerce_execution_errors",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("execution_id", sa.BigInteger, sa.ForeignKey("commerce_pipeline_executions.id"), nullable=False),
        sa.Column("record_code", sa.String(255)),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_commerce_execution_errors_execution", "commerce_execution_errors", ["execution_id", "id"])

    op.create_table(
        "commerce_webhook_events",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        _shop_id(),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("instance", sa.String(255), nullable=False),
        sa.Column("event_created", sa.Float, nullable=False),
        sa.Column("received_at", sa.Float, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ux_commerce_webhook_events_delivery",
        "commerce_webhook_events",
        ["shop_id", "event", "instance", "event_created"],
        unique=True,
    )
    op.create_index("ix_commerce_webhook_events_received", "commerce_webhook_events", ["received_at"])

    op.create_table(
        "commerce_snapshot_files",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        _shop_id(),
        sa.Column("execution_id", sa.BigInteger, sa.ForeignKey("commerce_pipeline_executions.id")),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("remote_job_id", sa.String(CODE)),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("downloaded_at", sa.Float, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("imported_at", sa.Float),
        sa.Column("error", sa.Text),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_commerce_snapshot_files_kind", "commerce_snapshot_files", ["shop_id", "kind", "id"])
    op.create_index(
        "ux_commerce_snapshot_files_job", "commerce_snapshot_files", ["shop_id", "remote_job_id"], unique=True
    )


def downgrade() -> None:
    # Dependants first, so PostgreSQL's foreign keys never block a drop.
    for table in (
        "commerce_snapshot_files",
        "commerce_webhook_events",
        "commerce_execution_errors",
        "commerce_pipeline_executions",
        "commerce_sync_cursors",
        "commerce_variants",
        "commerce_products",
        "commerce_order_items",
        "commerce_orders",
        "commerce_customers",
        "commerce_shops",
    ):
        op.drop_table(table)
