"""The Shoptet pack's public face: everything an application, the CLI and the web layer use, from one import.

```python
from conveyor import Conveyor
from conveyor.commerce.shoptet.pipelines import install, add_shop, request_snapshot

app = Conveyor("postgresql://…")
shoptet = install(app, data_dir="/var/lib/conveyor")   # tasks, schedules, the commerce tables
add_shop(app, "acme", base_url="https://api.myshoptet.com", token="…", eshop_id=222651)
request_snapshot(app, shop_id=1, kind="orders")         # -> execution id; a worker does the rest
```

What :func:`install` registers:

==========================================  ====================================================================
``shoptet.orders.fetch_new``                schedule every 5 min (no overlap): one ``…_for_shop`` job per Shoptet shop
``shoptet.orders.fetch_new_for_shop``       orders changed since the cursor, list → details → import by diff;
                                            job lock ``snapshot:{shop_id}:orders-incremental``
``shoptet.products.import_master``          schedule hourly: the master shop (every Shoptet shop if none is master)
``shoptet.products.import_master_for_shop`` products (variants, codes, EANs) changed since the cursor
``shoptet.orders.fetch_one``                one order a webhook named; unique per (shop, code) while it waits
``shoptet.snapshot``                        a full export (orders/products/customers): see :mod:`.snapshots`
``commerce.customers.backfill_from_orders`` link guest orders to customers, as a batch of chunk jobs
``commerce.inventory.refresh_metrics``      receives touched variant codes, 50 a job (a no-op for now)
==========================================  ====================================================================

Every run is a row in ``commerce_pipeline_executions`` (trigger ``cron``, ``manual``, ``webhook`` or
``retry``; status queued → running → completed/error; counts; record errors). A run that fails ends its
execution as ``error`` and its job is retried by Conveyor — that shop's job only. Shop credentials live
encrypted in the shop row (key: ``secret_key`` or ``CONVEYOR_COMMERCE_SECRET_KEY``): ``token`` (private API
token) or ``oauth_token`` (+ ``oauth_url``), and for webhooks ``eshop_id`` and ``signature_key``.

Where each part lives (the same shape as every platform pack): :mod:`.tasks` (``install``: tasks and
schedules), :mod:`.pack` (the installed pack: settings, per-process API clients), :mod:`.actions` (shops,
runs, snapshots, the pipeline log, parked records), :mod:`.webhooks` (receiving and registering webhooks),
:mod:`.sync` and :mod:`.snapshots` (the pipelines themselves), :mod:`.client` (the REST API).
"""

from __future__ import annotations

from conveyor.commerce.shoptet.actions import (
    PARKED_PIPELINES,
    PIPELINES,
    SNAPSHOT_KINDS,
    ShopOverview,
    add_shop,
    dismiss_parked,
    execution_errors,
    find_shop,
    get_execution,
    list_executions,
    list_parked,
    list_shops,
    remove_shop,
    request_snapshot,
    retry_parked,
    retry_snapshot,
    run_pipeline,
    shops_overview,
    snapshot_file_of,
    update_shop,
)
from conveyor.commerce.shoptet.errors import (
    PipelineError,
    SnapshotNotRetryableError,
    UnknownPipelineError,
    WebhookPayloadError,
    WebhookSignatureError,
)
from conveyor.commerce.shoptet.pack import PLATFORM, ShoptetPack, ShopTokenCache, pack_of
from conveyor.commerce.shoptet.tasks import install
from conveyor.commerce.shoptet.webhooks import (
    DEFAULT_WEBHOOK_EVENTS,
    ORDER_EVENTS,
    WebhookResult,
    handle_webhook,
    register_webhooks,
)

__all__ = [
    "DEFAULT_WEBHOOK_EVENTS",
    "ORDER_EVENTS",
    "PARKED_PIPELINES",
    "PIPELINES",
    "PLATFORM",
    "SNAPSHOT_KINDS",
    "PipelineError",
    "ShopOverview",
    "ShopTokenCache",
    "ShoptetPack",
    "SnapshotNotRetryableError",
    "UnknownPipelineError",
    "WebhookPayloadError",
    "WebhookResult",
    "WebhookSignatureError",
    "add_shop",
    "dismiss_parked",
    "execution_errors",
    "find_shop",
    "get_execution",
    "handle_webhook",
    "install",
    "list_executions",
    "list_parked",
    "list_shops",
    "pack_of",
    "register_webhooks",
    "remove_shop",
    "request_snapshot",
    "retry_parked",
    "retry_snapshot",
    "run_pipeline",
    "shops_overview",
    "snapshot_file_of",
    "update_shop",
]
