"""The supplier feeds' public face: everything an application, the CLI and the web layer use, from one import.

```python
from conveyor import Conveyor
from conveyor.commerce.feeds.pipelines import install, add_supplier, add_feed, request_import

app = Conveyor("postgresql://…")
install(app, data_dir="/var/lib/conveyor")            # tasks, per-feed schedules, the commerce tables
add_supplier(app, "acme", "ACME Distribuce s.r.o.")
add_feed(app, "acme", "acme-stock", source="https://acme.example/stock.csv",
         mappings={"sku": "KOD", "ean": "EAN", "stock_quantity": "SKLADEM", "delivery_days": "DODANI",
                   "purchase_price": "CENA"})
request_import(app, "acme-stock")                      # -> [execution id]; workers on queue "import" do the rest
```

Where each part lives: :mod:`.tasks` (``install``: tasks and schedules), :mod:`.pack` (settings), :mod:`.runs`
(an import run, step by step), :mod:`.linking` (auto-linking jobs), :mod:`.actions` (what users do),
:mod:`.client` (downloads), :mod:`.parsing` (formats and value rules), :mod:`.simulator` (a supplier to test with).
"""

from __future__ import annotations

from conveyor.commerce.feeds.actions import (
    FeedOverview,
    RunView,
    add_feed,
    add_supplier,
    add_task,
    feed_tasks,
    find_feed,
    find_supplier,
    get_feed_overview,
    get_run,
    link,
    link_summary,
    list_feeds,
    list_runs,
    list_suppliers,
    preview_task,
    request_import,
    request_linking,
    review,
    row_errors,
    supplier_items,
    unlink,
    update_task,
)
from conveyor.commerce.feeds.errors import (
    FeedDownloadError,
    FeedEncodingError,
    FeedError,
    FeedFormatError,
    FeedMappingError,
    FeedNotFoundError,
    RowError,
)
from conveyor.commerce.feeds.pack import IMPORT_QUEUE, LINK_QUEUE, FeedsPack, pack_of
from conveyor.commerce.feeds.tasks import install, schedule_key

__all__ = [
    "IMPORT_QUEUE",
    "LINK_QUEUE",
    "FeedDownloadError",
    "FeedEncodingError",
    "FeedError",
    "FeedFormatError",
    "FeedMappingError",
    "FeedNotFoundError",
    "FeedOverview",
    "FeedsPack",
    "RowError",
    "RunView",
    "add_feed",
    "add_supplier",
    "add_task",
    "feed_tasks",
    "find_feed",
    "find_supplier",
    "get_feed_overview",
    "get_run",
    "install",
    "link",
    "link_summary",
    "list_feeds",
    "list_runs",
    "list_suppliers",
    "pack_of",
    "preview_task",
    "request_import",
    "request_linking",
    "review",
    "row_errors",
    "schedule_key",
    "supplier_items",
    "unlink",
    "update_task",
]
