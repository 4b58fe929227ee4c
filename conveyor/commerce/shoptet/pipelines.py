"""The Shoptet pack's public face: everything an application, the CLI and the web layer use, from one import.

```python
from conveyor import Conveyor
from conveyor.commerce.shoptet.pipelines import install, add_shop, request_snapshot

app = Conveyor("postgresql://…")
shoptet = install(app, data_dir="/var/lib/conveyor")   # tasks, schedules, the commerce tables
add_shop(app, "acme", base_url="https://api.myshoptet.com", token="…", eshop_id=222651)
request_snapshot(app, shop_id=1, kind="orders")         # -> execution id; a worker does the rest
```

What :func:`install` registers, and how a run is recorded: :mod:`.tasks`.

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
