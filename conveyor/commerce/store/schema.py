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
    Column("shop_id", BigInteger, ForeignKey("commerce_shops.id"), nullable=False),
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
    sqlite_autoincrement=True,
)
Index("ix_commerce_executions_shop", pipeline_executions.c.shop_id, pipeline_executions.c.id)
Index(
    "ix_commerce_executions_pipeline",
    pipeline_executions.c.shop_id,
    pipeline_executions.c.pipeline,
    pipeline_executions.c.id,
)
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
