"""The commerce domain tables as SQLAlchemy Core metadata (separate from the engine's ``metadata``).

They live in the same database as the queue by default, under their own Alembic history
(:mod:`conveyor.commerce.store.migrate`), so an application can run the queue without them.

Representation choices:

* **Times are epoch seconds** (double precision), like the engine's tables: one representation on SQLite
  and PostgreSQL (SQLite has no time-zone-aware type; SQLAlchemy would silently drop the offset), cheap to
  compare and index, and the dashboard formats every time the same way. Shoptet's local offset is not
  lost: the original string stays in ``source``, and ``commerce_shops.timezone`` says how to display times.
* **Money is** ``Numeric(14, 2)``, **amounts and stock** ``Numeric(14, 3)``, VAT rates ``Numeric(5, 2)``,
  exchange rates ``Numeric(18, 8)``, the precisions Shoptet sends (strings such as ``"12.30"``, ``"1.000"``).
  Python sees :class:`~decimal.Decimal` on both databases.
* **Change detection by content hash.** Orders, items, products, variants and customers carry
  ``content_hash``: a digest of the fields we store, computed in Python before touching the database, so
  an import reads one short column per record to learn that nothing changed and writes nothing.
* **Source JSON** (``source``) is the platform's record as last imported with a change, kept for audit.
  It is the last column so that SQLite keeps the hot columns in the row's first page.
* **Order items** are keyed by ``(order_id, item_id)`` (Shoptet's ``itemId``): reading an order's items is
  a prefix scan of the primary key, and listings page by key, never by OFFSET. On SQLite the table is
  ``WITHOUT ROWID``, so the rows are stored in that key's order and there is no second B-tree to maintain.
* **Ids** are ``AUTOINCREMENT`` on SQLite, so an id is never reused and keyset cursors (``after_id``) stay
  valid after deletes.
* **Foreign keys** are declared for PostgreSQL to enforce; the engine does not turn them on for SQLite,
  so the store never relies on cascades: ``delete_shop`` deletes the dependants itself.

Index design (what reads each one):

* ``ux_commerce_orders_code`` – import lookups by (shop, code); ``ix_commerce_orders_changed`` and
  ``ix_commerce_orders_created`` – API listings and analytics by time; ``ix_commerce_orders_status`` – API
  lists of orders in a status; ``ix_commerce_orders_customer`` – a customer's orders;
  ``ix_commerce_orders_no_customer`` – partial: the guest orders the customers backfill still has to link.
* ``ux_commerce_customers_guid`` – import and order linking; ``ix_commerce_customers_email`` – linking
  guest orders by e-mail.
* ``ux_commerce_variants_code`` – the inventory step; ``ix_commerce_variants_ean`` – supplier feeds match
  by EAN; ``ix_commerce_variants_product`` – a product's variants during its import.
* ``ix_commerce_executions_shop`` / ``…_pipeline`` – recent runs per shop (keyset by id, newest first);
  ``ix_commerce_executions_active`` – partial: what is queued or running now.
* ``ux_commerce_webhook_events_delivery`` – a repeated delivery of one event is recorded once (Shoptet
  sends no event id; (shop, event, instance, eventCreated) is the identity).
* ``ux_commerce_parked_records_code`` – one row per failing record (shop, kind, code), found by the
  pipeline after each run; ``ix_commerce_parked_records_due`` – the parked records due for a retry.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    text,
)

metadata = MetaData()

# SQLite only aliases ROWID for "INTEGER PRIMARY KEY"; BIGINT would not autoincrement there.
IdType = BigInteger().with_variant(Integer(), "sqlite")
Money = Numeric(14, 2)
Amount = Numeric(14, 3)
Rate = Numeric(5, 2)
ExchangeRate = Numeric(18, 8)

#: Longest identifier (order code, guid, variant code, EAN) the importers accept; longer is a RecordError,
#: so a bad record never aborts a bulk insert on PostgreSQL's length check.
CODE_LENGTH = 64

shops = Table(
    "commerce_shops",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("platform", String(32), nullable=False),
    Column("name", String(255), nullable=False),
    Column("base_url", Text, nullable=False),
    # Fernet token of the credentials' JSON: see conveyor.commerce.store.crypto.
    Column("credentials", Text, nullable=False),
    Column("is_master", Boolean, nullable=False, server_default=text("false")),
    Column("timezone", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    sqlite_autoincrement=True,
)
Index("ux_commerce_shops_name", shops.c.name, unique=True)
# At most one master shop (the one whose catalogue and stock are the source of truth).
Index(
    "ux_commerce_shops_master",
    shops.c.is_master,
    unique=True,
    postgresql_where=text("is_master"),
    sqlite_where=text("is_master"),
)

customers = Table(
    "commerce_customers",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("shop_id", BigInteger, ForeignKey("commerce_shops.id"), nullable=False),
    Column("guid", String(CODE_LENGTH), nullable=False),
    # 'customer': imported from the platform's customer record; 'order': a minimal customer made from the
    # billing data of an order that named a guid we had not seen (the customer import completes it).
    Column("origin", String(16), nullable=False),
    Column("email", String(255)),  # lower-cased, as platforms compare e-mails case-insensitively
    Column("phone", String(CODE_LENGTH)),
    Column("full_name", Text),
    Column("company", Text),
    Column("billing_address", Text),  # JSON object
    Column("delivery_addresses", Text),  # JSON array
    Column("customer_group", Text),
    Column("creation_time", Float),
    Column("change_time", Float),
    Column("content_hash", String(32), nullable=False),
    Column("imported_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("source", Text),
    sqlite_autoincrement=True,
)
Index("ux_commerce_customers_guid", customers.c.shop_id, customers.c.guid, unique=True)
Index("ix_commerce_customers_email", customers.c.shop_id, customers.c.email)

orders = Table(
    "commerce_orders",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("shop_id", BigInteger, ForeignKey("commerce_shops.id"), nullable=False),
    Column("code", String(CODE_LENGTH), nullable=False),
    Column("guid", String(CODE_LENGTH)),
    Column("status_id", Integer),
    Column("status_name", Text),
    Column("paid", Boolean),  # NULL: the platform does not know
    Column("payment_method", Text),
    Column("shipping_method", Text),
    Column("currency", String(3), nullable=False),
    Column("exchange_rate", ExchangeRate),
    Column("total_net", Money),
    Column("total_gross", Money),
    Column("total_vat", Money),
    Column("customer_guid", String(CODE_LENGTH)),
    Column("customer_id", BigInteger, ForeignKey("commerce_customers.id")),
    Column("email", String(255)),
    Column("phone", String(CODE_LENGTH)),
    Column("full_name", Text),
    Column("company", Text),
    Column("country_code", String(2)),
    Column("creation_time", Float),
    Column("change_time", Float),
    Column("content_hash", String(32), nullable=False),
    Column("imported_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("source", Text, nullable=False),
    sqlite_autoincrement=True,
)
Index("ux_commerce_orders_code", orders.c.shop_id, orders.c.code, unique=True)
Index("ix_commerce_orders_changed", orders.c.shop_id, orders.c.change_time, orders.c.id)
Index("ix_commerce_orders_created", orders.c.shop_id, orders.c.creation_time, orders.c.id)
Index("ix_commerce_orders_status", orders.c.shop_id, orders.c.status_id, orders.c.id)
Index("ix_commerce_orders_customer", orders.c.customer_id)
Index(
    "ix_commerce_orders_no_customer",
    orders.c.shop_id,
    orders.c.id,
    postgresql_where=text("customer_id IS NULL"),
    sqlite_where=text("customer_id IS NULL"),
)

order_items = Table(
    "commerce_order_items",
    metadata,
    Column("order_id", BigInteger, ForeignKey("commerce_orders.id"), nullable=False),
    Column("item_id", BigInteger, nullable=False),  # the platform's item id (Shoptet: itemId)
    Column("position", Integer, nullable=False),  # 0-based place in the order, as the platform lists it
    Column("item_type", String(32), nullable=False),  # product, shipping, billing, discount-coupon, …
    Column("code", String(CODE_LENGTH)),  # the variant code; NULL for shipping/payment lines
    Column("product_guid", String(CODE_LENGTH)),
    Column("ean", String(CODE_LENGTH)),
    Column("name", Text, nullable=False),
    Column("variant_name", Text),
    Column("quantity", Amount),
    Column("unit", String(32)),
    Column("unit_price_net", Money),
    Column("unit_price_gross", Money),
    Column("total_net", Money),
    Column("total_gross", Money),
    Column("total_vat", Money),
    Column("vat_rate", Rate),
    Column("content_hash", String(32), nullable=False),
    PrimaryKeyConstraint("order_id", "item_id", name="pk_commerce_order_items"),
    sqlite_with_rowid=False,
)

products = Table(
    "commerce_products",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("shop_id", BigInteger, ForeignKey("commerce_shops.id"), nullable=False),
    Column("guid", String(CODE_LENGTH), nullable=False),
    Column("name", Text),
    Column("type", String(32)),
    Column("visibility", String(32)),
    Column("brand", Text),
    Column("url", Text),
    Column("creation_time", Float),
    Column("change_time", Float),
    Column("content_hash", String(32), nullable=False),
    Column("imported_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("source", Text, nullable=False),
    sqlite_autoincrement=True,
)
Index("ux_commerce_products_guid", products.c.shop_id, products.c.guid, unique=True)
Index("ix_commerce_products_changed", products.c.shop_id, products.c.change_time, products.c.id)

variants = Table(
    "commerce_variants",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("shop_id", BigInteger, ForeignKey("commerce_shops.id"), nullable=False),
    Column("product_id", BigInteger, ForeignKey("commerce_products.id"), nullable=False),
    Column("code", String(CODE_LENGTH), nullable=False),
    Column("ean", String(CODE_LENGTH)),
    Column("name", Text),
    Column("stock", Amount),  # NULL: the platform does not track stock for this variant
    Column("unit", String(32)),
    Column("price", Money),
    Column("price_includes_vat", Boolean),
    Column("vat_rate", Rate),
    Column("currency", String(3)),
    Column("visible", Boolean),
    Column("content_hash", String(32), nullable=False),
    Column("imported_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    sqlite_autoincrement=True,
)
Index("ux_commerce_variants_code", variants.c.shop_id, variants.c.code, unique=True)
Index("ix_commerce_variants_ean", variants.c.shop_id, variants.c.ean)
Index("ix_commerce_variants_product", variants.c.product_id)

sync_cursors = Table(
    "commerce_sync_cursors",
    metadata,
    Column("shop_id", BigInteger, ForeignKey("commerce_shops.id"), nullable=False),
    Column("key", String(128), nullable=False),  # e.g. 'orders.change_time'
    Column("value", Text, nullable=False),
    Column("updated_at", Float, nullable=False),
    PrimaryKeyConstraint("shop_id", "key", name="pk_commerce_sync_cursors"),
)

pipeline_executions = Table(
    "commerce_pipeline_executions",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    # NULL for runs that belong to no shop: a supplier feed's import runs name their import task instead.
    Column("shop_id", BigInteger, ForeignKey("commerce_shops.id")),
    Column("pipeline", String(64), nullable=False),
    Column("trigger", String(32), nullable=False),  # schedule, webhook, manual, …
    Column("status", String(16), nullable=False),  # see EXECUTION_TRANSITIONS in executions.py
    Column("job_id", BigInteger),  # the Conveyor job that runs it, when there is one
    Column("queued_at", Float, nullable=False),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("read", Integer, nullable=False, server_default="0"),
    Column("created", Integer, nullable=False, server_default="0"),
    Column("updated", Integer, nullable=False, server_default="0"),
    Column("unchanged", Integer, nullable=False, server_default="0"),
    Column("failed", Integer, nullable=False, server_default="0"),
    Column("error", Text),
    Column("feed_task_id", BigInteger, ForeignKey("commerce_feed_tasks.id", name="fk_commerce_executions_feed_task")),
    sqlite_autoincrement=True,
)
Index("ix_commerce_executions_shop", pipeline_executions.c.shop_id, pipeline_executions.c.id)
Index(
    "ix_commerce_executions_pipeline",
    pipeline_executions.c.shop_id,
    pipeline_executions.c.pipeline,
    pipeline_executions.c.id,
)
Index("ix_commerce_executions_feed_task", pipeline_executions.c.feed_task_id, pipeline_executions.c.id)
Index(
    "ix_commerce_executions_active",
    pipeline_executions.c.status,
    postgresql_where=text("status IN ('queued', 'running')"),
    sqlite_where=text("status IN ('queued', 'running')"),
)

execution_errors = Table(
    "commerce_execution_errors",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("execution_id", BigInteger, ForeignKey("commerce_pipeline_executions.id"), nullable=False),
    Column("record_code", String(255)),  # NULL when the record had no code
    Column("line", Integer),  # a feed row's line in the file (NULL for platform records)
    Column("reason", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    sqlite_autoincrement=True,
)
Index("ix_commerce_execution_errors_execution", execution_errors.c.execution_id, execution_errors.c.id)

webhook_events = Table(
    "commerce_webhook_events",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("shop_id", BigInteger, ForeignKey("commerce_shops.id"), nullable=False),
    Column("event", String(64), nullable=False),  # e.g. 'order:update'
    Column("instance", String(255), nullable=False),  # e.g. the order code
    Column("event_created", Float, nullable=False),
    Column("received_at", Float, nullable=False),
    # How many notifications with this identity arrived. Shoptet's eventCreated has 1 s resolution, so two
    # real updates of one order in the same second look like a redelivery: each still causes a fetch.
    Column("deliveries", Integer, nullable=False, server_default=text("1")),
    sqlite_autoincrement=True,
)
Index(
    "ux_commerce_webhook_events_delivery",
    webhook_events.c.shop_id,
    webhook_events.c.event,
    webhook_events.c.instance,
    webhook_events.c.event_created,
    unique=True,
)
Index("ix_commerce_webhook_events_received", webhook_events.c.received_at)

snapshot_files = Table(
    "commerce_snapshot_files",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("shop_id", BigInteger, ForeignKey("commerce_shops.id"), nullable=False),
    Column("execution_id", BigInteger, ForeignKey("commerce_pipeline_executions.id")),
    Column("kind", String(32), nullable=False),  # orders, products, customers
    Column("remote_job_id", String(CODE_LENGTH)),  # the platform's job that produced it (Shoptet jobId)
    Column("path", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("downloaded_at", Float, nullable=False),
    Column("status", String(16), nullable=False),  # see SNAPSHOT_TRANSITIONS in sync.py
    Column("imported_at", Float),
    Column("error", Text),
    sqlite_autoincrement=True,
)
Index("ix_commerce_snapshot_files_kind", snapshot_files.c.shop_id, snapshot_files.c.kind, snapshot_files.c.id)
# A job's file is recorded once, whoever downloads it (NULL job ids never conflict).
Index("ux_commerce_snapshot_files_job", snapshot_files.c.shop_id, snapshot_files.c.remote_job_id, unique=True)

#: Records a pipeline could not import: counted while they fail run after run (``failing``), then parked
#: (``parked``: they no longer hold the cursor and are retried on their own back-off) until they import or an
#: operator dismisses them (``dismissed``). Platform-neutral: ``kind`` is order/product/customer.
parked_records = Table(
    "commerce_parked_records",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("shop_id", BigInteger, ForeignKey("commerce_shops.id"), nullable=False),
    Column("kind", String(32), nullable=False),  # order, product, customer
    Column("code", String(CODE_LENGTH), nullable=False),
    Column("status", String(16), nullable=False),  # failing, parked, dismissed (see store/parked.py)
    Column("failures", Integer, nullable=False),  # runs in a row that failed it
    Column("last_error", Text, nullable=False),
    Column("change_time", String(40)),  # the platform's change time as listed, when known
    Column("first_failed_at", Float, nullable=False),
    Column("last_failed_at", Float, nullable=False),
    Column("parked_at", Float),
    Column("next_retry_at", Float),
    Column("retries", Integer, nullable=False, server_default=text("0")),
    sqlite_autoincrement=True,
)
Index(
    "ux_commerce_parked_records_code",
    parked_records.c.shop_id,
    parked_records.c.kind,
    parked_records.c.code,
    unique=True,
)
Index("ix_commerce_parked_records_due", parked_records.c.status, parked_records.c.next_retry_at)


# ---------------------------------------------------------------------------------------------------------
# Warehouse: the catalogue, warehouses, stock and the documents that are its only way to change.
# ---------------------------------------------------------------------------------------------------------

#: The catalogue: one row per sellable item, the source of truth for SKU, EAN and purchase data. Shop
#: variants (``commerce_variants``) are the shops' listings of these items, joined by ``sku = code``; they are
#: not a second product table (``conveyor catalog import --from-shop`` fills the catalogue from the master
#: shop's variants). ``sku_key`` is the SKU trimmed and lower-cased: what feed linking compares.
catalog_items = Table(
    "commerce_catalog_items",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("sku", String(CODE_LENGTH), nullable=False),
    Column("sku_key", String(CODE_LENGTH), nullable=False),
    Column("ean", String(14)),  # normalised GTIN (conveyor.commerce.gtin), digits only
    Column("name", Text, nullable=False),
    Column("unit", String(32), nullable=False, server_default=text("'ks'")),
    Column("purchase_price", Money),
    Column("vat_rate", Rate),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    sqlite_autoincrement=True,
)
Index("ux_commerce_catalog_items_sku", catalog_items.c.sku, unique=True)
Index("ux_commerce_catalog_items_sku_key", catalog_items.c.sku_key, unique=True)
Index("ix_commerce_catalog_items_ean", catalog_items.c.ean)

warehouses = Table(
    "commerce_warehouses",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("code", String(32), nullable=False),
    Column("name", Text, nullable=False),
    # Whether posting may take ``available`` below zero here (default: refused with the item and shortfall).
    Column("allow_negative", Boolean, nullable=False, server_default=text("false")),
    Column("created_at", Float, nullable=False),
    sqlite_autoincrement=True,
)
Index("ux_commerce_warehouses_code", warehouses.c.code, unique=True)

#: Totals per (item, warehouse), changed only by posting documents (and reservations), in the transaction
#: that writes the ledger rows explaining the change: ``conveyor stock verify`` recomputes them from the ledger.
stock_levels = Table(
    "commerce_stock_levels",
    metadata,
    Column("item_id", BigInteger, ForeignKey("commerce_catalog_items.id"), nullable=False),
    Column("warehouse_id", BigInteger, ForeignKey("commerce_warehouses.id"), nullable=False),
    Column("on_hand", Amount, nullable=False, server_default=text("0")),
    Column("reserved", Amount, nullable=False, server_default=text("0")),
    Column("updated_at", Float, nullable=False),
    PrimaryKeyConstraint("item_id", "warehouse_id", name="pk_commerce_stock_levels"),
)
Index("ix_commerce_stock_levels_warehouse", stock_levels.c.warehouse_id, stock_levels.c.item_id)

#: Stock documents: PZ receipt, WZ issue, MM transfer, IN stock count, and ST, the storno of a posted one.
#: ``draft`` → ``posted`` (immutable from then on; ``cancelled_by`` names its storno). The number is given at
#: posting from ``commerce_document_counters`` (per type and year), so drafts never leave gaps.
documents = Table(
    "commerce_documents",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("doc_type", String(4), nullable=False),
    Column("status", String(16), nullable=False),  # draft, posted
    Column("number", String(64)),  # e.g. WZ/2026/00042, set when posted
    Column("year", Integer),
    Column("seq", Integer),
    Column("warehouse_id", BigInteger, ForeignKey("commerce_warehouses.id"), nullable=False),
    Column("target_warehouse_id", BigInteger, ForeignKey("commerce_warehouses.id")),  # MM only
    Column("reverses_id", BigInteger, ForeignKey("commerce_documents.id")),  # ST: the document it cancels
    Column("cancelled_by_id", BigInteger, ForeignKey("commerce_documents.id")),
    Column("reference", String(255)),  # free text: supplier invoice, order code, …
    Column("note", Text),
    Column("created_at", Float, nullable=False),
    Column("posted_at", Float),
    sqlite_autoincrement=True,
)
Index("ux_commerce_documents_number", documents.c.doc_type, documents.c.year, documents.c.seq, unique=True)
Index("ix_commerce_documents_type", documents.c.doc_type, documents.c.created_at, documents.c.id)
Index("ix_commerce_documents_status", documents.c.status, documents.c.id)
# A posted document has at most one storno.
Index("ux_commerce_documents_reverses", documents.c.reverses_id, unique=True)

document_lines = Table(
    "commerce_document_lines",
    metadata,
    Column("document_id", BigInteger, ForeignKey("commerce_documents.id"), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("item_id", BigInteger, ForeignKey("commerce_catalog_items.id"), nullable=False),
    # PZ/WZ/MM: the quantity moved (> 0); IN: the counted quantity (>= 0).
    Column("quantity", Amount, nullable=False),
    Column("unit_price", Money),
    PrimaryKeyConstraint("document_id", "line_no", name="pk_commerce_document_lines"),
    sqlite_with_rowid=False,
)
Index("ix_commerce_document_lines_item", document_lines.c.item_id)

document_counters = Table(
    "commerce_document_counters",
    metadata,
    Column("doc_type", String(4), nullable=False),
    Column("year", Integer, nullable=False),
    Column("last_seq", Integer, nullable=False),
    PrimaryKeyConstraint("doc_type", "year", name="pk_commerce_document_counters"),
)

#: Every change of a stock total, with the document (and line) that caused it. Append-only.
stock_ledger = Table(
    "commerce_stock_ledger",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("document_id", BigInteger, ForeignKey("commerce_documents.id")),
    Column("line_no", Integer),
    Column("reservation_ref", String(255)),  # set instead of a document for reservation changes
    Column("item_id", BigInteger, ForeignKey("commerce_catalog_items.id"), nullable=False),
    Column("warehouse_id", BigInteger, ForeignKey("commerce_warehouses.id"), nullable=False),
    Column("on_hand_delta", Amount, nullable=False),
    Column("reserved_delta", Amount, nullable=False),
    Column("created_at", Float, nullable=False),
    sqlite_autoincrement=True,
)
Index("ix_commerce_stock_ledger_item", stock_ledger.c.item_id, stock_ledger.c.warehouse_id, stock_ledger.c.id)
Index("ix_commerce_stock_ledger_document", stock_ledger.c.document_id)

#: The outbox of stock changes for the shop pushes of later issues: one row per item changed by a posting,
#: read by id after a consumer's cursor (``commerce_sync_cursors``-style), so a burst becomes one job.
stock_changes = Table(
    "commerce_stock_changes",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("item_id", BigInteger, ForeignKey("commerce_catalog_items.id"), nullable=False),
    Column("document_id", BigInteger, ForeignKey("commerce_documents.id")),
    Column("created_at", Float, nullable=False),
    sqlite_autoincrement=True,
)
Index("ix_commerce_stock_changes_created", stock_changes.c.created_at)

# ---------------------------------------------------------------------------------------------------------
# Supplier feeds: suppliers, their feed integrations and import tasks, what each feed lists, and links.
# ---------------------------------------------------------------------------------------------------------

suppliers = Table(
    "commerce_suppliers",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("code", String(64), nullable=False),
    Column("name", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    sqlite_autoincrement=True,
)
Index("ux_commerce_suppliers_code", suppliers.c.code, unique=True)

#: A supplier's feed integration: what runs on a schedule (catalog entry ``feeds.import.<id>``), never two
#: runs at once. Its import tasks are the files it fetches.
feeds = Table(
    "commerce_feeds",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("supplier_id", BigInteger, ForeignKey("commerce_suppliers.id"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("schedule", String(64)),  # cron expression; NULL: manual only
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    sqlite_autoincrement=True,
)
Index("ux_commerce_feeds_name", feeds.c.name, unique=True)
Index("ix_commerce_feeds_supplier", feeds.c.supplier_id)

feed_tasks = Table(
    "commerce_feed_tasks",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("feed_id", BigInteger, ForeignKey("commerce_feeds.id"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("source", Text, nullable=False),  # http(s) URL or local path
    Column("auth", Text),  # Fernet token of {"user","password"} or {"header","value"} (store.crypto)
    Column("format", String(16), nullable=False),  # csv, xml, auto
    Column("item_path", String(255)),  # XML: e.g. SHOP/SHOPITEM; NULL: detected
    Column("encoding", String(32)),  # NULL: detected
    Column("mappings", Text, nullable=False),  # JSON of FeedMapping
    Column("last_headers", Text),  # JSON list: the columns of the last run's file
    Column("etag", Text),
    Column("last_modified", Text),
    Column("last_sha256", String(64)),  # content of the last complete run: identical content writes nothing
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    sqlite_autoincrement=True,
)
Index("ix_commerce_feed_tasks_feed", feed_tasks.c.feed_id)

#: Per import run, what the pipeline log does not hold: the file, its validators, and how it ended.
feed_runs = Table(
    "commerce_feed_runs",
    metadata,
    Column("execution_id", BigInteger, ForeignKey("commerce_pipeline_executions.id"), primary_key=True),
    Column("feed_task_id", BigInteger, ForeignKey("commerce_feed_tasks.id"), nullable=False),
    Column("outcome", String(16)),  # imported, unchanged, identical, dry_run, failed
    Column("path", Text),
    Column("sha256", String(64)),
    Column("size", BigInteger),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("row_limit", Integer),
    Column("dry_run", Boolean, nullable=False, server_default=text("false")),
    Column("chunks", Integer, nullable=False, server_default=text("0")),
    Column("chunks_done", Integer, nullable=False, server_default=text("0")),
    Column("zeroed", Integer, nullable=False, server_default=text("0")),
    Column("batch_id", String(64)),
    Column("details", Text),  # JSON: format, encoding, compression, headers, preview
    Column("created_at", Float, nullable=False),
)
Index("ix_commerce_feed_runs_task", feed_runs.c.feed_task_id, feed_runs.c.execution_id)

#: What a supplier's feed lists, one row per supplier item (keyed by the supplier's own code: the feed's SKU,
#: else its EAN), as of the last run that listed it. ``seen_execution_id`` finds items a complete run no
#: longer lists (set to stock 0 only then). ``link_status`` is the last linking verdict.
supplier_items = Table(
    "commerce_supplier_items",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("supplier_id", BigInteger, ForeignKey("commerce_suppliers.id"), nullable=False),
    Column("feed_task_id", BigInteger, ForeignKey("commerce_feed_tasks.id"), nullable=False),
    Column("supplier_code", String(CODE_LENGTH), nullable=False),
    Column("sku", String(CODE_LENGTH)),
    Column("sku_key", String(CODE_LENGTH)),
    Column("ean", String(14)),
    Column("name", Text),
    Column("manufacturer_code", String(CODE_LENGTH)),
    Column("stock_quantity", Amount),  # NULL: unknown ("na dotaz" without a number)
    Column("in_stock", Boolean),
    Column("delivery_days", Integer),
    Column("purchase_price", Money),
    Column("content_hash", String(32), nullable=False),
    Column("seen_execution_id", BigInteger),
    Column("link_status", String(16), nullable=False, server_default=text("'unmatched'")),
    Column("link_note", Text),  # ambiguous: JSON list of candidate item ids; else a reason
    Column("updated_at", Float, nullable=False),
    sqlite_autoincrement=True,
)
Index("ux_commerce_supplier_items_code", supplier_items.c.supplier_id, supplier_items.c.supplier_code, unique=True)
Index("ix_commerce_supplier_items_task", supplier_items.c.feed_task_id, supplier_items.c.seen_execution_id)
Index("ix_commerce_supplier_items_ean", supplier_items.c.ean)
Index("ix_commerce_supplier_items_link", supplier_items.c.link_status, supplier_items.c.id)

#: A catalogue item linked to a supplier item. Keyed by the supplier's own code and the item's id, so a later
#: SKU change on either side never silently re-links; ``method`` says how it was made (sku, ean, manual).
item_links = Table(
    "commerce_item_links",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("item_id", BigInteger, ForeignKey("commerce_catalog_items.id"), nullable=False),
    Column("supplier_item_id", BigInteger, ForeignKey("commerce_supplier_items.id"), nullable=False),
    Column("supplier_id", BigInteger, ForeignKey("commerce_suppliers.id"), nullable=False),
    Column("supplier_code", String(CODE_LENGTH), nullable=False),
    Column("method", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
    sqlite_autoincrement=True,
)
Index("ux_commerce_item_links_supplier_item", item_links.c.supplier_item_id, unique=True)
Index("ix_commerce_item_links_item", item_links.c.item_id)
