"""Every exception the catalogue, the warehouses and their documents raise, in one place.

They derive from :class:`conveyor.ConveyorError`, so the CLI reports each as one line (exit code 2). Each
bad input is refused before anything is written: a refused posting leaves stock, ledger, numbering and the
document exactly as they were.

===========================  ===================================================================================
``CatalogError``             a catalogue item cannot be created or changed as asked (base of the two below)
``DuplicateSkuError``        another item already has this SKU; SKUs compare trimmed and case-insensitively,
                             so ``ABC-1`` and ``abc-1 `` are the same item
``InvalidItemError``         a field is not acceptable: empty SKU or name, an EAN whose check digit is wrong,
                             a price or VAT rate that is not a number; ``field`` names it
``CatalogImportError``       a CSV file cannot be imported at all (no ``sku`` column, not text): nothing written
``ItemNotFoundError``        no catalogue item with that id or SKU (a document line naming an unknown SKU)
``WarehouseError``           a warehouse cannot be created as asked (duplicate or empty code)
``WarehouseNotFoundError``   no warehouse with that id or code
``DocumentError``            a document is not valid: a quantity that is not > 0 (>= 0 for a stock count),
                             a transfer (MM) to the same warehouse or without a target, an item twice on a
                             stock count, an unknown document type, no lines
``DocumentNotFoundError``    no document with that id or number
``InsufficientStockError``   posting (or a reservation) would take ``available`` (on hand − reserved) below zero
                             in a warehouse that does not allow it; names item SKU, warehouse, requested and
                             available
``ReservationError``         releasing more than is reserved
``InvalidStateError``        (from ``conveyor``) a posted document cannot be edited, deleted or posted again; a
                             storno cannot be stornoed; a document can be stornoed only once
===========================  ===================================================================================
"""

from __future__ import annotations

from decimal import Decimal

from conveyor import ConveyorError


class CatalogError(ConveyorError):
    """A catalogue item cannot be created or changed as asked."""


class DuplicateSkuError(CatalogError):
    """Another catalogue item already has this SKU (compared trimmed and case-insensitively)."""

    def __init__(self, sku: str, existing_sku: str, existing_id: int) -> None:
        self.sku, self.existing_sku, self.existing_id = sku, existing_sku, existing_id
        same = "" if sku.strip() == existing_sku else " (SKUs compare trimmed and case-insensitively)"
        super().__init__(f"SKU {sku!r} is already used by item {existing_id} ({existing_sku!r}){same}")


class InvalidItemError(CatalogError):
    """A catalogue field is not acceptable; ``field`` names it and ``reason`` says why."""

    def __init__(self, field: str, reason: str) -> None:
        self.field, self.reason = field, reason
        super().__init__(f"{field}: {reason}")


class CatalogImportError(CatalogError):
    """A catalogue CSV file cannot be imported at all; nothing was written."""


class ItemNotFoundError(ConveyorError):
    """No catalogue item with that id or SKU."""

    def __init__(self, item: int | str) -> None:
        self.item = item
        what = f"id {item}" if isinstance(item, int) else f"SKU {item!r}"
        super().__init__(f"no catalogue item with {what} (add it: conveyor catalog add)")


class WarehouseError(ConveyorError):
    """A warehouse cannot be created as asked."""


class WarehouseNotFoundError(ConveyorError):
    """No warehouse with that id or code."""

    def __init__(self, warehouse: int | str) -> None:
        self.warehouse = warehouse
        what = f"id {warehouse}" if isinstance(warehouse, int) else f"code {warehouse!r}"
        super().__init__(f"no warehouse with {what} (list them: conveyor warehouses list)")


class DocumentError(ConveyorError):
    """A stock document is not valid as given; nothing was written."""


class DocumentNotFoundError(ConveyorError):
    """No stock document with that id or number."""

    def __init__(self, document: int | str) -> None:
        self.document = document
        what = f"id {document}" if isinstance(document, int) else f"number {document!r}"
        super().__init__(f"no stock document with {what}")


class Shortage:
    """One item a posting would take below zero: what was asked and what there is."""

    __slots__ = ("available", "requested", "sku", "warehouse")

    def __init__(self, sku: str, warehouse: str, requested: Decimal, available: Decimal) -> None:
        self.sku, self.warehouse, self.requested, self.available = sku, warehouse, requested, available

    def __str__(self) -> str:
        return (
            f"item {self.sku} in warehouse {self.warehouse}: requested {_qty(self.requested)}, "
            f"available {_qty(self.available)}"
        )

    def __repr__(self) -> str:
        return f"<Shortage {self}>"


class InsufficientStockError(ConveyorError):
    """Posting (or reserving) would take ``available`` below zero where the warehouse does not allow it.

    ``shortages`` lists every item short (the message names the first and how many more)."""

    def __init__(self, shortages: list[Shortage], *, what: str = "posting") -> None:
        self.shortages = shortages
        first = shortages[0]
        more = f" (and {len(shortages) - 1} more item(s) short)" if len(shortages) > 1 else ""
        self.sku, self.warehouse, self.requested, self.available = (
            first.sku,
            first.warehouse,
            first.requested,
            first.available,
        )
        super().__init__(f"not enough stock for {what}: {first}{more}; nothing was written")


class ReservationError(ConveyorError):
    """A release asks for more than is reserved."""


def _qty(value: Decimal) -> str:
    """A quantity without trailing zeros (``5`` not ``5.000``)."""
    return format(value.normalize(), "f")
