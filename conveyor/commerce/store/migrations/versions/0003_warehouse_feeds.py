"""Warehouse and supplier feeds: the catalogue, warehouses, stock levels, documents and their ledger, the
stock-change outbox, suppliers, feed integrations, import tasks and runs, supplier items and item links; feed
runs in the pipeline log (``shop_id`` becomes optional, ``feed_task_id`` and the error's ``line`` are added).

On SQLite, making ``shop_id`` nullable rebuilds ``commerce_pipeline_executions`` (Alembic's batch "move and
copy"). That rebuild recreates indexes from reflection and would drop AUTOINCREMENT (see the engine's migration
0004), so it keeps ``sqlite_autoincrement`` and the partial index is dropped first and recreated after.

Revision ID: 0003_warehouse_feeds
Revises: 0002_parked_records
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_warehouse_feeds"
down_revision = "0002_parked_records"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ACTIVE = "status IN ('queued', 'running')"


def upgrade() -> None:
    op.create_table(
        "commerce_catalog_items",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("sku_key", sa.String(64), nullable=False),
        sa.Column("ean", sa.String(14)),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("unit", sa.String(32), nullable=False, server_default=sa.text("'ks'")),
        sa.Column("purchase_price", sa.Numeric(14, 2)),
        sa.Column("vat_rate", sa.Numeric(5, 2)),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_commerce_catalog_items_ean", "commerce_catalog_items", ["ean"])
    op.create_index("ux_commerce_catalog_items_sku", "commerce_catalog_items", ["sku"], unique=True)
    op.create_index("ux_commerce_catalog_items_sku_key", "commerce_catalog_items", ["sku_key"], unique=True)

    op.create_table(
        "commerce_warehouses",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("allow_negative", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("created_at", sa.Float, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ux_commerce_warehouses_code", "commerce_warehouses", ["code"], unique=True)

    op.create_table(
        "commerce_stock_levels",
        sa.Column("item_id", sa.BigInteger, sa.ForeignKey("commerce_catalog_items.id"), nullable=False),
        sa.Column("warehouse_id", sa.BigInteger, sa.ForeignKey("commerce_warehouses.id"), nullable=False),
        sa.Column("on_hand", sa.Numeric(14, 3), nullable=False, server_default=sa.text("0")),
        sa.Column("reserved", sa.Numeric(14, 3), nullable=False, server_default=sa.text("0")),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("item_id", "warehouse_id", name="pk_commerce_stock_levels"),
    )
    op.create_index("ix_commerce_stock_levels_warehouse", "commerce_stock_levels", ["warehouse_id", "item_id"])

    op.create_table(
        "commerce_documents",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("doc_type", sa.String(4), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("number", sa.String(64)),
        sa.Column("year", sa.Integer),
        sa.Column("seq", sa.Integer),
        sa.Column("warehouse_id", sa.BigInteger, sa.ForeignKey("commerce_warehouses.id"), nullable=False),
        sa.Column("target_warehouse_id", sa.BigInteger, sa.ForeignKey("commerce_warehouses.id")),
        sa.Column("reverses_id", sa.BigInteger, sa.ForeignKey("commerce_documents.id")),
        sa.Column("cancelled_by_id", sa.BigInteger, sa.ForeignKey("commerce_documents.id")),
        sa.Column("reference", sa.String(255)),
        sa.Column("note", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("posted_at", sa.Float),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_commerce_documents_status", "commerce_documents", ["status", "id"])
    op.create_index("ix_commerce_documents_type", "commerce_documents", ["doc_type", "created_at", "id"])
    op.create_index("ux_commerce_documents_number", "commerce_documents", ["doc_type", "year", "seq"], unique=True)
    op.create_index("ux_commerce_documents_reverses", "commerce_documents", ["reverses_id"], unique=True)

    op.create_table(
        "commerce_document_lines",
        sa.Column("document_id", sa.BigInteger, sa.ForeignKey("commerce_documents.id"), nullable=False),
        sa.Column("line_no", sa.Integer, nullable=False),
        sa.Column("item_id", sa.BigInteger, sa.ForeignKey("commerce_catalog_items.id"), nullable=False),
        sa.Column("quantity", sa.Numeric(14, 3), nullable=False),
        sa.Column("unit_price", sa.Numeric(14, 2)),
        sa.PrimaryKeyConstraint("document_id", "line_no", name="pk_commerce_document_lines"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_commerce_document_lines_item", "commerce_document_lines", ["item_id"])

    op.create_table(
        "commerce_document_counters",
        sa.Column("doc_type", sa.String(4), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("last_seq", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("doc_type", "year", name="pk_commerce_document_counters"),
    )

    op.create_table(
        "commerce_stock_ledger",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("document_id", sa.BigInteger, sa.ForeignKey("commerce_documents.id")),
        sa.Column("line_no", sa.Integer),
        sa.Column("reservation_ref", sa.String(255)),
        sa.Column("item_id", sa.BigInteger, sa.ForeignKey("commerce_catalog_items.id"), nullable=False),
        sa.Column("warehouse_id", sa.BigInteger, sa.ForeignKey("commerce_warehouses.id"), nullable=False),
        sa.Column("on_hand_delta", sa.Numeric(14, 3), nullable=False),
        sa.Column("reserved_delta", sa.Numeric(14, 3), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_commerce_stock_ledger_document", "commerce_stock_ledger", ["document_id"])
    op.create_index("ix_commerce_stock_ledger_item", "commerce_stock_ledger", ["item_id", "warehouse_id", "id"])

    op.create_table(
        "commerce_stock_changes",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("item_id", sa.BigInteger, sa.ForeignKey("commerce_catalog_items.id"), nullable=False),
        sa.Column("document_id", sa.BigInteger, sa.ForeignKey("commerce_documents.id")),
        sa.Column("created_at", sa.Float, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_commerce_stock_changes_created", "commerce_stock_changes", ["created_at"])

    op.create_table(
        "commerce_suppliers",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ux_commerce_suppliers_code", "commerce_suppliers", ["code"], unique=True)

    op.create_table(
        "commerce_feeds",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("supplier_id", sa.BigInteger, sa.ForeignKey("commerce_suppliers.id"), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("schedule", sa.String(64)),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_commerce_feeds_supplier", "commerce_feeds", ["supplier_id"])
    op.create_index("ux_commerce_feeds_name", "commerce_feeds", ["name"], unique=True)

    op.create_table(
        "commerce_feed_tasks",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("feed_id", sa.BigInteger, sa.ForeignKey("commerce_feeds.id"), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("auth", sa.Text),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("item_path", sa.String(255)),
        sa.Column("encoding", sa.String(32)),
        sa.Column("mappings", sa.Text, nullable=False),
        sa.Column("last_headers", sa.Text),
        sa.Column("etag", sa.Text),
        sa.Column("last_modified", sa.Text),
        sa.Column("last_sha256", sa.String(64)),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_commerce_feed_tasks_feed", "commerce_feed_tasks", ["feed_id"])

    op.create_table(
        "commerce_feed_runs",
        sa.Column("execution_id", sa.BigInteger, sa.ForeignKey("commerce_pipeline_executions.id"), primary_key=True),
        sa.Column("feed_task_id", sa.BigInteger, sa.ForeignKey("commerce_feed_tasks.id"), nullable=False),
        sa.Column("outcome", sa.String(16)),
        sa.Column("path", sa.Text),
        sa.Column("sha256", sa.String(64)),
        sa.Column("size", sa.BigInteger),
        sa.Column("etag", sa.Text),
        sa.Column("last_modified", sa.Text),
        sa.Column("row_limit", sa.Integer),
        sa.Column("dry_run", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("chunks", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("chunks_done", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("zeroed", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("batch_id", sa.String(64)),
        sa.Column("details", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_commerce_feed_runs_task", "commerce_feed_runs", ["feed_task_id", "execution_id"])

    op.create_table(
        "commerce_supplier_items",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("supplier_id", sa.BigInteger, sa.ForeignKey("commerce_suppliers.id"), nullable=False),
        sa.Column("feed_task_id", sa.BigInteger, sa.ForeignKey("commerce_feed_tasks.id"), nullable=False),
        sa.Column("supplier_code", sa.String(64), nullable=False),
        sa.Column("sku", sa.String(64)),
        sa.Column("sku_key", sa.String(64)),
        sa.Column("ean", sa.String(14)),
        sa.Column("name", sa.Text),
        sa.Column("manufacturer_code", sa.String(64)),
        sa.Column("stock_quantity", sa.Numeric(14, 3)),
        sa.Column("in_stock", sa.Boolean),
        sa.Column("delivery_days", sa.Integer),
        sa.Column("purchase_price", sa.Numeric(14, 2)),
        sa.Column("content_hash", sa.String(32), nullable=False),
        sa.Column("seen_execution_id", sa.BigInteger),
        sa.Column("link_status", sa.String(16), nullable=False, server_default=sa.text("'unmatched'")),
        sa.Column("link_note", sa.Text),
        sa.Column("updated_at", sa.Float, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_commerce_supplier_items_ean", "commerce_supplier_items", ["ean"])
    op.create_index("ix_commerce_supplier_items_link", "commerce_supplier_items", ["link_status", "id"])
    op.create_index("ix_commerce_supplier_items_task", "commerce_supplier_items", ["feed_task_id", "seen_execution_id"])
    op.create_index(
        "ux_commerce_supplier_items_code", "commerce_supplier_items", ["supplier_id", "supplier_code"], unique=True
    )

    op.create_table(
        "commerce_item_links",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("item_id", sa.BigInteger, sa.ForeignKey("commerce_catalog_items.id"), nullable=False),
        sa.Column("supplier_item_id", sa.BigInteger, sa.ForeignKey("commerce_supplier_items.id"), nullable=False),
        sa.Column("supplier_id", sa.BigInteger, sa.ForeignKey("commerce_suppliers.id"), nullable=False),
        sa.Column("supplier_code", sa.String(64), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_commerce_item_links_item", "commerce_item_links", ["item_id"])
    op.create_index("ux_commerce_item_links_supplier_item", "commerce_item_links", ["supplier_item_id"], unique=True)
    op.drop_index("ix_commerce_executions_active", table_name="commerce_pipeline_executions")
    with op.batch_alter_table("commerce_pipeline_executions", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.alter_column("shop_id", existing_type=sa.BigInteger, nullable=True)
        batch.add_column(
            sa.Column(
                "feed_task_id",
                sa.BigInteger,
                sa.ForeignKey("commerce_feed_tasks.id", name="fk_commerce_executions_feed_task"),
            )
        )
    op.create_index(
        "ix_commerce_executions_active",
        "commerce_pipeline_executions",
        ["status"],
        postgresql_where=sa.text(ACTIVE),
        sqlite_where=sa.text(ACTIVE),
    )
    op.create_index("ix_commerce_executions_feed_task", "commerce_pipeline_executions", ["feed_task_id", "id"])
    op.add_column("commerce_execution_errors", sa.Column("line", sa.Integer))


def downgrade() -> None:
    with op.batch_alter_table("commerce_execution_errors") as batch:
        batch.drop_column("line")
    op.drop_index("ix_commerce_executions_feed_task", table_name="commerce_pipeline_executions")
    op.drop_index("ix_commerce_executions_active", table_name="commerce_pipeline_executions")
    op.execute(
        "DELETE FROM commerce_execution_errors WHERE execution_id IN "
        "(SELECT id FROM commerce_pipeline_executions WHERE shop_id IS NULL)"
    )
    op.execute("DELETE FROM commerce_feed_runs")
    op.execute("DELETE FROM commerce_pipeline_executions WHERE shop_id IS NULL")
    with op.batch_alter_table("commerce_pipeline_executions", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_column("feed_task_id")
        batch.alter_column("shop_id", existing_type=sa.BigInteger, nullable=False)
    op.create_index(
        "ix_commerce_executions_active",
        "commerce_pipeline_executions",
        ["status"],
        postgresql_where=sa.text(ACTIVE),
        sqlite_where=sa.text(ACTIVE),
    )
    op.drop_table("commerce_item_links")
    op.drop_table("commerce_supplier_items")
    op.drop_table("commerce_feed_runs")
    op.drop_table("commerce_feed_tasks")
    op.drop_table("commerce_feeds")
    op.drop_table("commerce_suppliers")
    op.drop_table("commerce_stock_changes")
    op.drop_table("commerce_stock_ledger")
    op.drop_table("commerce_document_counters")
    op.drop_table("commerce_document_lines")
    op.drop_table("commerce_documents")
    op.drop_table("commerce_stock_levels")
    op.drop_table("commerce_warehouses")
    op.drop_table("commerce_catalog_items")
