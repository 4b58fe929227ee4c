"""The warehouse's public face: the catalogue, warehouses, stock documents and availability, from one import.

```python
from conveyor import Conveyor
from conveyor.commerce import warehouse
from conveyor.commerce.store.documents import LineInput

app = Conveyor("postgresql://…")
warehouse.install(app)                                     # tables + the debounced stock-change job
warehouse.add_item(app, "ABC-1", "Hrnek modrý", ean="8594001234563")
warehouse.add_warehouse(app, "MAIN", "Praha")
doc = warehouse.create_document(app, "PZ", "MAIN", [LineInput("ABC-1", 10, "89.90")], post=True)
doc.number                                                 # 'PZ/2026/00001'
warehouse.on_stock_changed(app, push_stock)                # push_stock(conn, item_ids), one call per burst
```

Where each part lives: :mod:`.tasks` (``install``, the stock-change job and its listeners), :mod:`.actions`
(what the CLI, the web layer and your code call, each in one transaction), :mod:`.cli` (``conveyor catalog``,
``warehouses``, ``stock``, ``docs``), :mod:`.errors`. The SQL is in the store: :mod:`conveyor.commerce.store.catalog`,
:mod:`~conveyor.commerce.store.stock`, :mod:`~conveyor.commerce.store.documents`,
:mod:`~conveyor.commerce.store.availability`.

The names below are loaded on first use: the store modules import :mod:`.errors`, and importing this
package must not import them back half-initialised.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conveyor.commerce.store.availability import Availability, Offer
    from conveyor.commerce.store.catalog import CatalogImport, CatalogItem, LineProblem
    from conveyor.commerce.store.documents import DocStatus, DocType, Document, DocumentLine, LineInput
    from conveyor.commerce.store.stock import Difference, StockLevel, Warehouse
    from conveyor.commerce.warehouse.actions import (
        add_item,
        add_warehouse,
        create_document,
        deactivate_item,
        delete_document,
        effective_availability,
        export_catalog,
        find_item,
        find_warehouse,
        get_document,
        import_catalog,
        import_catalog_from_shop,
        list_documents,
        list_warehouses,
        parse_line,
        post_document,
        release,
        reserve,
        search_items,
        stock_levels,
        storno_document,
        update_document,
        verify_stock,
    )
    from conveyor.commerce.warehouse.errors import (
        CatalogError,
        CatalogImportError,
        DocumentError,
        DocumentNotFoundError,
        DuplicateSkuError,
        InsufficientStockError,
        InvalidItemError,
        ItemNotFoundError,
        ReservationError,
        Shortage,
        WarehouseError,
        WarehouseNotFoundError,
    )
    from conveyor.commerce.warehouse.tasks import (
        STOCK_CHANGED,
        StockListener,
        WarehousePack,
        install,
        on_stock_changed,
        pack_of,
        report_stock_changes,
    )

__all__ = [
    "STOCK_CHANGED",
    "Availability",
    "CatalogError",
    "CatalogImport",
    "CatalogImportError",
    "CatalogItem",
    "Difference",
    "DocStatus",
    "DocType",
    "Document",
    "DocumentError",
    "DocumentLine",
    "DocumentNotFoundError",
    "DuplicateSkuError",
    "InsufficientStockError",
    "InvalidItemError",
    "ItemNotFoundError",
    "LineInput",
    "LineProblem",
    "Offer",
    "ReservationError",
    "Shortage",
    "StockLevel",
    "StockListener",
    "Warehouse",
    "WarehouseError",
    "WarehouseNotFoundError",
    "WarehousePack",
    "add_item",
    "add_warehouse",
    "create_document",
    "deactivate_item",
    "delete_document",
    "effective_availability",
    "export_catalog",
    "find_item",
    "find_warehouse",
    "get_document",
    "import_catalog",
    "import_catalog_from_shop",
    "install",
    "list_documents",
    "list_warehouses",
    "on_stock_changed",
    "pack_of",
    "parse_line",
    "post_document",
    "release",
    "report_stock_changes",
    "reserve",
    "search_items",
    "stock_levels",
    "storno_document",
    "update_document",
    "verify_stock",
]

_MISSING = object()

#: Where the names live, in the order they are looked up.
_MODULES = (
    "conveyor.commerce.warehouse.errors",
    "conveyor.commerce.warehouse.tasks",
    "conveyor.commerce.warehouse.actions",
    "conveyor.commerce.store.catalog",
    "conveyor.commerce.store.stock",
    "conveyor.commerce.store.documents",
    "conveyor.commerce.store.availability",
)


def __getattr__(name: str) -> Any:
    if name in __all__:
        for module in _MODULES:
            value = getattr(importlib.import_module(module), name, _MISSING)
            if value is not _MISSING:
                globals()[name] = value
                return value
    raise AttributeError(f"module 'conveyor.commerce.warehouse' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
