"""The warehouse's actions: what the CLI (``conveyor catalog|warehouses|stock|docs …``), the web layer and your
code call. Each takes the application and runs the store functions in one ``app.transaction()`` (or a read
transaction), so a refused action writes nothing.

Postings and stornos also queue the debounced ``warehouse.stock_changed`` job in the same transaction
(:meth:`~conveyor.commerce.warehouse.tasks.WarehousePack.notify`), which is why code that changes stock
should go through here rather than call :mod:`conveyor.commerce.store.documents` directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO

from sqlalchemy import Connection

from conveyor import ConfigurationError, Conveyor
from conveyor.commerce import store
from conveyor.commerce.store import availability, catalog, documents, stock
from conveyor.commerce.store.availability import Availability
from conveyor.commerce.store.catalog import CatalogImport, CatalogItem
from conveyor.commerce.store.documents import DocType, Document, LineInput
from conveyor.commerce.store.stock import Difference, StockLevel, Warehouse
from conveyor.commerce.warehouse.errors import DocumentError
from conveyor.commerce.warehouse.tasks import pack_of


# ------------------------------------------------------------------------------------------ catalogue
def add_item(
    app: Conveyor,
    sku: str,
    name: str,
    *,
    ean: str | None = None,
    unit: str | None = None,
    purchase_price: str | None = None,
    vat_rate: str | None = None,
) -> CatalogItem:
    """Add a catalogue item (see :func:`conveyor.commerce.store.catalog.create_item` for the checks)."""
    with app.transaction() as conn:
        return catalog.create_item(
            conn, sku=sku, name=name, ean=ean, unit=unit, purchase_price=purchase_price, vat_rate=vat_rate
        )


def find_item(app: Conveyor, ref: int | str) -> CatalogItem:
    """An item by id (an int, or ``"#12"``) or SKU (a string); ``ItemNotFoundError`` if there is none."""
    with app.read_transaction() as conn:
        return _item(conn, ref)


def _item(conn: Connection, ref: int | str) -> CatalogItem:
    if isinstance(ref, int):
        return catalog.get_item(conn, ref)
    if ref.startswith("#") and ref[1:].isdigit():
        return catalog.get_item(conn, int(ref[1:]))
    return catalog.get_by_sku(conn, ref)


def search_items(
    app: Conveyor,
    text: str | None = None,
    *,
    sku_prefix: str | None = None,
    ean: str | None = None,
    name: str | None = None,
    include_inactive: bool = False,
    after_id: int = 0,
    limit: int = 50,
) -> list[CatalogItem]:
    """Search the catalogue (keyset pages by id): see :func:`conveyor.commerce.store.catalog.search`."""
    with app.read_transaction() as conn:
        return catalog.search(
            conn,
            text=text,
            sku_prefix=sku_prefix,
            ean=ean,
            name=name,
            include_inactive=include_inactive,
            after_id=after_id,
            limit=limit,
        )


def deactivate_item(app: Conveyor, ref: int | str) -> CatalogItem:
    """Take an item out of use (it stays for the ledger; new documents refuse it)."""
    with app.transaction() as conn:
        return catalog.deactivate_item(conn, _item(conn, ref).id)


def import_catalog(app: Conveyor, source: Path | str | IO[bytes] | IO[str]) -> CatalogImport:
    """Upsert the catalogue from a CSV file in one transaction: bad lines are skipped and reported, good
    ones import; a file-level problem writes nothing (:func:`conveyor.commerce.store.catalog.import_csv`)."""
    with app.transaction() as conn:
        return catalog.import_csv(conn, source)


def export_catalog(app: Conveyor, out: IO[str], *, delimiter: str = ";", include_inactive: bool = False) -> int:
    """Write the catalogue as CSV to ``out`` from one consistent snapshot; returns the number of items."""
    with app.read_transaction() as conn:
        return catalog.export_csv(conn, out, delimiter=delimiter, include_inactive=include_inactive)


def import_catalog_from_shop(app: Conveyor, shop: int | str | None = None) -> CatalogImport:
    """Fill the catalogue from a shop's variants: the master shop by default, or the shop with this id or
    name. :class:`~conveyor.ConfigurationError` when no shop is given and none is the master."""
    with app.transaction() as conn:
        if shop is None:
            master = store.master_shop(conn)
            if master is None:
                raise ConfigurationError("no master shop is set: name the shop to import from (id or name)")
            shop_id = master.id
        elif isinstance(shop, int) or shop.isdigit():
            shop_id = int(shop)
        else:
            shop_id = store.get_shop_by_name(conn, shop).id
        return catalog.import_from_shop(conn, shop_id)


# ------------------------------------------------------------------------------------------ warehouses
def add_warehouse(app: Conveyor, code: str, name: str | None = None, *, allow_negative: bool = False) -> Warehouse:
    """Add a warehouse (``code`` unique, e.g. ``MAIN``)."""
    with app.transaction() as conn:
        return stock.create_warehouse(conn, code, name, allow_negative=allow_negative)


def list_warehouses(app: Conveyor) -> list[Warehouse]:
    """Every warehouse, by id."""
    with app.read_transaction() as conn:
        return stock.list_warehouses(conn)


def find_warehouse(app: Conveyor, ref: int | str) -> Warehouse:
    """A warehouse by id or code."""
    with app.read_transaction() as conn:
        return stock.get_warehouse(conn, ref)


# ------------------------------------------------------------------------------------------ stock
def stock_levels(
    app: Conveyor,
    item: int | str | None = None,
    *,
    warehouse: int | str | None = None,
    after: tuple[int, int] = (0, 0),
    limit: int = 100,
) -> list[StockLevel]:
    """Stock per (item, warehouse), keyset pages by ``after``; of one item (id or SKU) and/or warehouse."""
    with app.read_transaction() as conn:
        item_ids = None if item is None else [_item(conn, item).id]
        warehouse_id = None if warehouse is None else stock.get_warehouse(conn, warehouse).id
        return stock.list_stock(conn, item_ids=item_ids, warehouse_id=warehouse_id, after=after, limit=limit)


def verify_stock(app: Conveyor) -> list[Difference]:
    """Every stock total that differs from its ledger (there must never be one)."""
    with app.read_transaction() as conn:
        return stock.verify(conn)


def reserve(app: Conveyor, item: int | str, warehouse: int | str, quantity: str | int, ref: str) -> StockLevel:
    """Reserve stock for ``ref`` (e.g. an order code); refused when ``available`` would go below zero."""
    pack = pack_of(app)
    with app.transaction() as conn:
        level = stock.reserve(conn, _item(conn, item).id, stock.get_warehouse(conn, warehouse).id, quantity, ref)
        pack.notify(conn)
        return level


def release(app: Conveyor, item: int | str, warehouse: int | str, quantity: str | int, ref: str) -> StockLevel:
    """Release reserved stock for ``ref``; refused when more is released than is reserved."""
    pack = pack_of(app)
    with app.transaction() as conn:
        level = stock.release(conn, _item(conn, item).id, stock.get_warehouse(conn, warehouse).id, quantity, ref)
        pack.notify(conn)
        return level


def effective_availability(
    app: Conveyor, item_ids: Iterable[int], *, warehouse_ids: Iterable[int] | None = None
) -> dict[int, Availability]:
    """What can be promised per item: own stock, else the best supplier offer (see
    :mod:`conveyor.commerce.store.availability` for the rules)."""
    with app.read_transaction() as conn:
        return availability.effective_availability(conn, item_ids, warehouse_ids=warehouse_ids)


# ------------------------------------------------------------------------------------------ documents
def create_document(
    app: Conveyor,
    doc_type: DocType | str,
    warehouse: int | str,
    lines: Sequence[LineInput] = (),
    *,
    target_warehouse: int | str | None = None,
    reference: str | None = None,
    note: str | None = None,
    post: bool = False,
) -> Document:
    """Create a draft (PZ, WZ, MM, IN); with ``post``, post it in the same transaction (a refused posting
    then leaves no draft behind either)."""
    pack = pack_of(app) if post else None
    with app.transaction() as conn:
        doc = documents.create_document(
            conn, doc_type, warehouse, lines, target_warehouse=target_warehouse, reference=reference, note=note
        )
        if pack is not None:
            doc = documents.post_document(conn, doc.id, number_format=pack.number_format, timezone=pack.timezone)
            pack.notify(conn)
        return doc


def update_document(
    app: Conveyor,
    ref: int | str,
    *,
    lines: Sequence[LineInput] | None = None,
    reference: str | None = None,
    note: str | None = None,
) -> Document:
    """Change a draft's lines, reference or note (a posted document is immutable: InvalidStateError)."""
    with app.transaction() as conn:
        doc = documents.find_document(conn, ref)
        changes: dict[str, object] = {}
        if lines is not None:
            changes["lines"] = lines
        if reference is not None:
            changes["reference"] = reference
        if note is not None:
            changes["note"] = note
        return documents.update_document(conn, doc.id, **changes)  # type: ignore[arg-type]


def delete_document(app: Conveyor, ref: int | str) -> None:
    """Delete a draft (a posted document cannot be deleted: storno it)."""
    with app.transaction() as conn:
        documents.delete_document(conn, documents.find_document(conn, ref).id)


def post_document(app: Conveyor, ref: int | str) -> Document:
    """Post a draft (by id): ledger, totals, numbering and the stock-change job in one transaction."""
    pack = pack_of(app)
    with app.transaction() as conn:
        doc = documents.find_document(conn, ref)
        posted = documents.post_document(conn, doc.id, number_format=pack.number_format, timezone=pack.timezone)
        pack.notify(conn)
        return posted


def storno_document(app: Conveyor, ref: int | str, *, note: str | None = None) -> Document:
    """Storno a posted document (by id or number); returns the storno (``ST``)."""
    pack = pack_of(app)
    with app.transaction() as conn:
        doc = documents.find_document(conn, ref)
        storno = documents.storno_document(
            conn, doc.id, note=note, number_format=pack.number_format, timezone=pack.timezone
        )
        pack.notify(conn)
        return storno


def get_document(app: Conveyor, ref: int | str) -> Document:
    """A document with its lines, by id or number."""
    with app.read_transaction() as conn:
        return documents.find_document(conn, ref)


def list_documents(
    app: Conveyor,
    *,
    doc_type: str | None = None,
    status: str | None = None,
    warehouse: int | str | None = None,
    date_from: float | None = None,
    date_to: float | None = None,
    after_id: int = 0,
    before_id: int | None = None,
    newest_first: bool = False,
    limit: int = 50,
) -> list[Document]:
    """Documents by id (keyset pages with ``after_id``; newest first below ``before_id`` with
    ``newest_first``), filtered by type, status, warehouse and date."""
    with app.read_transaction() as conn:
        warehouse_id = None if warehouse is None else stock.get_warehouse(conn, warehouse).id
        return documents.list_documents(
            conn,
            doc_type=doc_type,
            status=status,
            warehouse_id=warehouse_id,
            date_from=date_from,
            date_to=date_to,
            after_id=after_id,
            before_id=before_id,
            newest_first=newest_first,
            limit=limit,
        )


def parse_line(text: str) -> LineInput:
    """A document line from ``SKU:QUANTITY[:UNIT_PRICE]`` (the CLI's ``--line``). A SKU may contain colons,
    so the numbers are taken from the right."""
    parts = text.rsplit(":", 2)
    if len(parts) == 3 and _numeric(parts[1]) and _numeric(parts[2]):
        return LineInput(parts[0].strip(), parts[1].strip(), parts[2].strip())
    sku, _, quantity = text.rpartition(":")
    if not sku.strip() or not _numeric(quantity):
        raise DocumentError(f"line {text!r}: write it as SKU:QUANTITY or SKU:QUANTITY:UNIT_PRICE (e.g. ABC-1:5:120.50)")
    return LineInput(sku.strip(), quantity.strip())


def _numeric(text: str) -> bool:
    digits = text.strip().removeprefix("-").replace(",", ".", 1).replace(".", "", 1)
    return digits.isdigit()
