"""The catalogue: one row per sellable item, the single source of truth for SKU, EAN and purchase data.

Shop variants (``commerce_variants``) are the shops' *listings* of these items, joined by ``sku = code``; they
are never a second product table. :func:`import_from_shop` fills the catalogue from the master shop's
variants (SKU, EAN, name, unit, VAT rate) and leaves purchase prices alone, since shops do not know them.

Identity rules:

* The SKU is stored trimmed, and two SKUs that differ only in case or surrounding spaces are the same item
  (``sku_key`` = trimmed lower-case, unique): creating ``abc-1 `` next to ``ABC-1`` is a
  :class:`~conveyor.commerce.warehouse.errors.DuplicateSkuError`, and an import row ``abc-1`` updates the
  item ``ABC-1`` (keeping the stored spelling, which shop listings join on).
* The EAN is validated as a GTIN-8/12/13/14 with its check digit and stored in the canonical 14-digit form
  (:func:`conveyor.commerce.gtin.normalize_gtin`), so ``5901234123457`` and ``05901234123457`` are one code.
  EANs are not unique: feed linking reports an EAN shared by several items as ambiguous instead of guessing.

CSV import and export stream: the file is read and written in pages, never held whole in memory.
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any, cast

from sqlalchemy import Connection, bindparam, select

from conveyor.commerce.gtin import normalize_gtin
from conveyor.commerce.store._sql import now, one_of
from conveyor.commerce.store.errors import ShopNotFoundError
from conveyor.commerce.store.schema import CODE_LENGTH, catalog_items, products, shops, variants
from conveyor.commerce.warehouse.errors import (
    CatalogImportError,
    DuplicateSkuError,
    InvalidItemError,
    ItemNotFoundError,
)

#: The columns a catalogue CSV has (export writes them in this order; import needs ``sku``, the rest optional).
CSV_COLUMNS = ("sku", "ean", "name", "unit", "purchase_price", "vat_rate")

#: Rows upserted per round of statements during an import.
IMPORT_CHUNK = 500

DEFAULT_UNIT = "ks"


@dataclass(frozen=True)
class CatalogItem:
    """A catalogue item as stored. ``ean`` is the canonical 14-digit GTIN (or None)."""

    id: int
    sku: str
    ean: str | None
    name: str
    unit: str
    purchase_price: Decimal | None
    vat_rate: Decimal | None
    active: bool
    created_at: float
    updated_at: float

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (decimals as strings), for ``--json`` and the API."""
        return {
            "id": self.id,
            "sku": self.sku,
            "ean": self.ean,
            "name": self.name,
            "unit": self.unit,
            "purchase_price": None if self.purchase_price is None else str(self.purchase_price),
            "vat_rate": None if self.vat_rate is None else str(self.vat_rate),
            "active": self.active,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True)
class LineProblem:
    """One input line (CSV) or variant (shop import) that was skipped: where, which SKU, and why."""

    line: int
    sku: str | None
    reason: str

    def __str__(self) -> str:
        who = f"line {self.line}" + (f" ({self.sku})" if self.sku else "")
        return f"{who}: {self.reason}"


@dataclass
class CatalogImport:
    """What an import did: items created, updated, unchanged, and the lines it skipped with their reasons."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    errors: list[LineProblem] = field(default_factory=list)
    #: Columns of the file that the catalogue does not have (ignored).
    ignored_columns: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "errors": [{"line": e.line, "sku": e.sku, "reason": e.reason} for e in self.errors],
            "ignored_columns": self.ignored_columns,
        }


_COLUMNS = (
    catalog_items.c.id,
    catalog_items.c.sku,
    catalog_items.c.ean,
    catalog_items.c.name,
    catalog_items.c.unit,
    catalog_items.c.purchase_price,
    catalog_items.c.vat_rate,
    catalog_items.c.active,
    catalog_items.c.created_at,
    catalog_items.c.updated_at,
)
#: The fields an upsert compares and writes.
_FIELDS = ("ean", "name", "unit", "purchase_price", "vat_rate")


def _item(row: Sequence[Any]) -> CatalogItem:
    return CatalogItem(*row)


# ------------------------------------------------------------------------------------------ validation
def sku_key(sku: str) -> str:
    """The identity of a SKU: trimmed and lower-cased (what uniqueness and feed linking compare)."""
    return sku.strip().lower()


def clean_sku(sku: object) -> str:
    """The SKU trimmed; :class:`InvalidItemError` when empty or too long."""
    if not isinstance(sku, str) or not sku.strip():
        raise InvalidItemError("sku", "the SKU is empty")
    text = sku.strip()
    if len(text) > CODE_LENGTH:
        raise InvalidItemError("sku", f"SKU {text[:20]!r}… is {len(text)} characters; at most {CODE_LENGTH}")
    return text


def clean_ean(ean: object) -> str | None:
    """The EAN in its canonical 14-digit form (None for empty); :class:`InvalidItemError` when not a GTIN."""
    if ean is None or (isinstance(ean, str) and not ean.strip()):
        return None
    try:
        return normalize_gtin(str(ean))
    except ValueError as exc:
        raise InvalidItemError("ean", str(exc)) from None


def parse_decimal(value: object, what: str, *, places: int, minimum: Decimal | None = Decimal(0)) -> Decimal | None:
    """A decimal from user input (``"12,50"`` with a decimal comma is fine; empty is None).

    Refused (:class:`InvalidItemError`): not a number, below ``minimum``, more than ``places`` decimals (the
    column would round it silently), or too large for the column."""
    if value is None:
        return None
    if isinstance(value, Decimal | int):
        number = Decimal(value)
    else:
        text = str(value).strip().replace("\u00a0", "").replace(" ", "")
        if not text:
            return None
        if "," in text and "." not in text:
            text = text.replace(",", ".")
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise InvalidItemError(what, f"{str(value).strip()!r} is not a number") from None
    if not number.is_finite():
        raise InvalidItemError(what, f"{value!r} is not a number")
    if minimum is not None and number < minimum:
        raise InvalidItemError(what, f"{number} is negative" if minimum == 0 else f"{number} is below {minimum}")
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places and number != number.quantize(Decimal(1).scaleb(-places)):
        raise InvalidItemError(what, f"{number} has more than {places} decimal places")
    if abs(number) >= Decimal(10) ** (14 - places):
        raise InvalidItemError(what, f"{number} is too large")
    return number.quantize(Decimal(1).scaleb(-places))


def _clean_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidItemError("name", "the name is empty")
    return name.strip()


def _clean_unit(unit: object) -> str:
    if unit is None or (isinstance(unit, str) and not unit.strip()):
        return DEFAULT_UNIT
    text = str(unit).strip()
    if len(text) > 32:
        raise InvalidItemError("unit", f"unit {text[:20]!r}… is longer than 32 characters")
    return text


def _clean_vat(value: object) -> Decimal | None:
    rate = parse_decimal(value, "vat_rate", places=2)
    if rate is not None and rate >= 100:
        raise InvalidItemError("vat_rate", f"{rate} is not a VAT rate in percent (0–99.99)")
    return rate


# ------------------------------------------------------------------------------------------ single items
def create_item(
    conn: Connection,
    *,
    sku: str,
    name: str,
    ean: str | None = None,
    unit: str | None = None,
    purchase_price: Decimal | str | int | None = None,
    vat_rate: Decimal | str | int | None = None,
) -> CatalogItem:
    """Add an item to the catalogue.

    Raises :class:`DuplicateSkuError` when the SKU (trimmed, case-insensitive) is taken, and
    :class:`InvalidItemError` for an empty SKU or name, a bad EAN (check digit) or a negative price."""
    clean = clean_sku(sku)
    values: dict[str, Any] = {
        "sku": clean,
        "ean": clean_ean(ean),
        "name": _clean_name(name),
        "unit": _clean_unit(unit),
        "purchase_price": parse_decimal(purchase_price, "purchase_price", places=2),
        "vat_rate": _clean_vat(vat_rate),
    }
    _check_sku_free(conn, clean)
    at = now()
    item_id = conn.execute(
        catalog_items.insert()
        .values(**values, sku_key=sku_key(clean), active=True, created_at=at, updated_at=at)
        .returning(catalog_items.c.id)
    ).scalar_one()
    return get_item(conn, int(item_id))


def _check_sku_free(conn: Connection, sku: str, *, other_than: int | None = None) -> None:
    query = select(catalog_items.c.id, catalog_items.c.sku).where(catalog_items.c.sku_key == sku_key(sku))
    if other_than is not None:
        query = query.where(catalog_items.c.id != other_than)
    row = conn.execute(query).first()
    if row is not None:
        raise DuplicateSkuError(sku, row.sku, int(row.id))


_UNSET: Any = object()


def update_item(
    conn: Connection,
    item_id: int,
    *,
    sku: str = _UNSET,
    name: str = _UNSET,
    ean: str | None = _UNSET,
    unit: str | None = _UNSET,
    purchase_price: Decimal | str | int | None = _UNSET,
    vat_rate: Decimal | str | int | None = _UNSET,
    active: bool = _UNSET,
) -> CatalogItem:
    """Change the given fields of an item (``ean=None`` clears the EAN); the same checks as :func:`create_item`.

    Renaming the SKU changes which shop listings (``code``) the item joins; links to supplier items keep
    the supplier's own code, so they stay."""
    get_item(conn, item_id)
    values: dict[str, Any] = {}
    if sku is not _UNSET:
        values["sku"] = clean_sku(sku)
        values["sku_key"] = sku_key(values["sku"])
        _check_sku_free(conn, values["sku"], other_than=item_id)
    if name is not _UNSET:
        values["name"] = _clean_name(name)
    if ean is not _UNSET:
        values["ean"] = clean_ean(ean)
    if unit is not _UNSET:
        values["unit"] = _clean_unit(unit)
    if purchase_price is not _UNSET:
        values["purchase_price"] = parse_decimal(purchase_price, "purchase_price", places=2)
    if vat_rate is not _UNSET:
        values["vat_rate"] = _clean_vat(vat_rate)
    if active is not _UNSET:
        values["active"] = bool(active)
    if values:
        conn.execute(catalog_items.update().where(catalog_items.c.id == item_id).values(**values, updated_at=now()))
    return get_item(conn, item_id)


def deactivate_item(conn: Connection, item_id: int) -> CatalogItem:
    """Take an item out of use: it stays (documents and the ledger refer to it) but new documents refuse it
    and searches skip it unless asked. ``update_item(conn, id, active=True)`` brings it back."""
    return update_item(conn, item_id, active=False)


def get_item(conn: Connection, item_id: int) -> CatalogItem:
    """The item with this id; :class:`ItemNotFoundError` if there is none."""
    row = conn.execute(select(*_COLUMNS).where(catalog_items.c.id == item_id)).first()
    if row is None:
        raise ItemNotFoundError(item_id)
    return _item(row)


def find_by_sku(conn: Connection, sku: str) -> CatalogItem | None:
    """The item with this SKU (trimmed, case-insensitive), or None."""
    row = conn.execute(select(*_COLUMNS).where(catalog_items.c.sku_key == sku_key(sku))).first()
    return None if row is None else _item(row)


def get_by_sku(conn: Connection, sku: str) -> CatalogItem:
    """The item with this SKU; :class:`ItemNotFoundError` if there is none."""
    item = find_by_sku(conn, sku)
    if item is None:
        raise ItemNotFoundError(sku.strip())
    return item


def find_by_ean(conn: Connection, ean: str) -> list[CatalogItem]:
    """Items with this EAN (any GTIN spelling), by id: usually one, several when the EAN is shared.

    :class:`InvalidItemError` for a text that is not a valid GTIN."""
    code = clean_ean(ean)
    if code is None:
        raise InvalidItemError("ean", "EAN is empty")
    rows = conn.execute(select(*_COLUMNS).where(catalog_items.c.ean == code).order_by(catalog_items.c.id))
    return [_item(row) for row in rows]


def ids_by_sku(conn: Connection, skus: Iterable[str]) -> dict[str, tuple[int, bool]]:
    """``sku_key → (item id, active)`` for the SKUs that exist (one query per 1,000 SKUs)."""
    keys = sorted({sku_key(s) for s in skus})
    found: dict[str, tuple[int, bool]] = {}
    for i in range(0, len(keys), 1000):
        rows = conn.execute(
            select(catalog_items.c.sku_key, catalog_items.c.id, catalog_items.c.active).where(
                one_of(catalog_items.c.sku_key, keys[i : i + 1000])
            )
        )
        found.update((key, (int(item_id), bool(active))) for key, item_id, active in rows)
    return found


def search(
    conn: Connection,
    *,
    sku_prefix: str | None = None,
    ean: str | None = None,
    name: str | None = None,
    text: str | None = None,
    include_inactive: bool = False,
    after_id: int = 0,
    limit: int = 50,
) -> list[CatalogItem]:
    """Items by id after ``after_id`` (keyset pages: pass the last id of a page to get the next one).

    ``sku_prefix``: SKUs starting with it (case-insensitive); ``ean``: that EAN exactly (any GTIN spelling);
    ``name``: names containing it (case-insensitive); ``text``: any of the three (what a search box
    sends: a valid EAN matches by EAN, anything else by SKU prefix or name). Filters combine with AND."""
    query = select(*_COLUMNS).where(catalog_items.c.id > after_id)
    if not include_inactive:
        query = query.where(catalog_items.c.active)
    if sku_prefix:
        query = query.where(catalog_items.c.sku_key.startswith(sku_key(sku_prefix), autoescape=True))
    if ean:
        query = query.where(catalog_items.c.ean == clean_ean(ean))
    if name:
        query = query.where(catalog_items.c.name.icontains(name.strip(), autoescape=True))
    if text and text.strip():
        term = text.strip()
        either = catalog_items.c.sku_key.startswith(sku_key(term), autoescape=True) | catalog_items.c.name.icontains(
            term, autoescape=True
        )
        with contextlib.suppress(ValueError):  # not an EAN: search by SKU prefix and name only
            either = either | (catalog_items.c.ean == normalize_gtin(term))
        query = query.where(either)
    rows = conn.execute(query.order_by(catalog_items.c.id).limit(max(1, min(limit, 1000))))
    return [_item(row) for row in rows]


def iter_items(conn: Connection, *, include_inactive: bool = True, page: int = 1000) -> Iterator[CatalogItem]:
    """Every item by id, read in keyset pages of ``page`` (never the whole table at once)."""
    after = 0
    while True:
        query = select(*_COLUMNS).where(catalog_items.c.id > after)
        if not include_inactive:
            query = query.where(catalog_items.c.active)
        rows = conn.execute(query.order_by(catalog_items.c.id).limit(page)).all()
        for row in rows:
            yield _item(row)
        if len(rows) < page:
            return
        after = int(rows[-1].id)


# ------------------------------------------------------------------------------------------ bulk upsert
class _Upsert:
    """Rows keyed by SKU, written in chunks: one lookup, one INSERT and one UPDATE (executemany) per chunk.

    A row that names a SKU already pending in the chunk flushes the chunk first, so the later row of the
    same SKU updates the earlier one (last one wins) instead of colliding on the unique index."""

    def __init__(self, conn: Connection, result: CatalogImport, fields: Sequence[str]) -> None:
        self.conn, self.result, self.fields = conn, result, tuple(fields)
        self.pending: dict[str, tuple[int, dict[str, Any]]] = {}

    def add(self, line: int, row: dict[str, Any]) -> None:
        key = sku_key(row["sku"])
        if key in self.pending:
            self.flush()
        self.pending[key] = (line, row)
        if len(self.pending) >= IMPORT_CHUNK:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        pending, self.pending = self.pending, {}
        cols = [catalog_items.c[name] for name in self.fields]
        stored = {
            row.sku_key: row
            for row in self.conn.execute(
                select(catalog_items.c.id, catalog_items.c.sku_key, *cols).where(
                    one_of(catalog_items.c.sku_key, list(pending))
                )
            )
        }
        at = now()
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for key, (line, row) in pending.items():
            old = stored.get(key)
            if old is None:
                if not row.get("name"):
                    self.result.failed += 1
                    self.result.errors.append(LineProblem(line, row["sku"], "name: a new item needs a name"))
                    continue
                new = {"ean": None, "unit": DEFAULT_UNIT, "purchase_price": None, "vat_rate": None}
                new.update({f: row[f] for f in self.fields if f in row})
                inserts.append(
                    {**new, "sku": row["sku"], "sku_key": key, "active": True, "created_at": at, "updated_at": at}
                )
                continue
            changes = {f: row[f] for f in self.fields if f in row and row[f] != getattr(old, f)}
            if not changes:
                self.result.unchanged += 1
                continue
            updates.append({**{f: row.get(f, getattr(old, f)) for f in self.fields}, "b_id": old.id, "updated_at": at})
        if inserts:
            self.conn.execute(catalog_items.insert(), inserts)
            self.result.created += len(inserts)
        if updates:
            stmt = (
                catalog_items.update()
                .where(catalog_items.c.id == bindparam("b_id"))
                .values({name: bindparam(name) for name in (*self.fields, "updated_at")})
            )
            self.conn.execute(stmt, updates)
            self.result.updated += len(updates)


def _clean_row(raw: Mapping[str, Any], present: Iterable[str]) -> dict[str, Any]:
    """A catalogue row from input fields (only those ``present`` are set); :class:`InvalidItemError`."""
    row: dict[str, Any] = {"sku": clean_sku(raw.get("sku"))}
    for name in present:
        value = raw.get(name)
        if name == "ean":
            row["ean"] = clean_ean(value)
        elif name == "name":
            row["name"] = _clean_name(value)
        elif name == "unit":
            row["unit"] = _clean_unit(value)
        elif name == "purchase_price":
            row["purchase_price"] = parse_decimal(value, "purchase_price", places=2)
        elif name == "vat_rate":
            row["vat_rate"] = _clean_vat(value)
    return row


# ------------------------------------------------------------------------------------------ CSV
def import_csv(conn: Connection, source: Path | str | IO[bytes] | IO[str] | Iterable[str]) -> CatalogImport:
    """Upsert the catalogue from a CSV file, by SKU, streaming (the file is never held in memory).

    ``source``: a path, a binary or text stream, or an iterable of lines. The header names the columns
    (``sku`` required; ``ean``, ``name``, ``unit``, ``purchase_price``, ``vat_rate`` optional, any order and
    case; others are ignored and listed in ``ignored_columns``). The delimiter (``;`` or ``,``) is sniffed
    from the header; UTF-8 with or without BOM; decimal comma is fine (``12,50``).

    Columns the file does not have are left as they are on existing items; an empty cell clears that
    field (``ean``, ``purchase_price``, ``vat_rate``), defaults ``unit`` to ``ks`` and is an error for
    ``name``. Each bad line (empty SKU, bad EAN check digit, a price that is not a number, …) is skipped and
    reported with its line number; the good lines import. The same SKU twice: the later line wins.
    A file-level problem (no ``sku`` column, not UTF-8 text) raises :class:`CatalogImportError` before
    anything is written. Everything happens in the caller's transaction.
    """
    with _open_text(source) as lines:
        return _import_lines(conn, lines)


@contextlib.contextmanager
def _open_text(source: Path | str | IO[bytes] | IO[str] | Iterable[str]) -> Iterator[Iterator[str]]:
    """Lines of text from a path, a binary or text stream, or an iterable; UTF-8 with an optional BOM."""
    with contextlib.ExitStack() as stack:
        lines: Iterator[str]
        if isinstance(source, str | Path):
            path = Path(source)
            if not path.is_file():
                raise CatalogImportError(f"{path}: no such file")
            lines = stack.enter_context(path.open(encoding="utf-8-sig", newline=""))
        elif isinstance(source, io.TextIOBase):
            lines = _strip_bom(iter(source))
        elif isinstance(source, io.IOBase) or hasattr(source, "readinto"):
            wrapper = io.TextIOWrapper(cast(IO[bytes], source), encoding="utf-8-sig", newline="")
            stack.callback(wrapper.detach)  # the caller owns the stream: do not close it
            lines = wrapper
        else:
            lines = _strip_bom(iter(cast(Iterable[str], source)))
        decoded: Generator[str] = _decoding(lines)
        stack.callback(decoded.close)  # before the file closes or the wrapper detaches (callbacks run LIFO)
        yield decoded


def _strip_bom(lines: Iterator[str]) -> Iterator[str]:
    first = True
    for line in lines:
        if first:
            line, first = line.removeprefix("\ufeff"), False
        yield line


def _decoding(lines: Iterable[str]) -> Generator[str]:
    """Turn a decoding failure into a file-level error (it can only happen before the first write of the
    chunk it is in, but the caller's transaction must still be rolled back: it is an exception)."""
    try:
        for line in lines:  # noqa: UP028 -- ``yield from`` would close the caller's stream on close()
            yield line
    except UnicodeDecodeError as exc:
        raise CatalogImportError(
            f"the file is not UTF-8 text (byte {exc.start} of a block: {exc.reason}); save it as UTF-8 CSV"
        ) from None


def _import_lines(conn: Connection, lines: Iterator[str]) -> CatalogImport:
    result = CatalogImport()
    header_line = next(lines, None)
    if header_line is None or not header_line.strip():
        raise CatalogImportError("the file is empty: the first line must name the columns (sku;ean;name;…)")
    delimiter = ";" if header_line.count(";") >= header_line.count(",") and ";" in header_line else ","
    header = next(csv.reader([header_line], delimiter=delimiter))
    names = [h.strip().lower().removeprefix("\ufeff") for h in header]
    if "sku" not in names:
        raise CatalogImportError(
            f"the file has no 'sku' column (its columns: {', '.join(repr(n) for n in names) or 'none'}; "
            f"expected {', '.join(CSV_COLUMNS)})"
        )
    duplicates = sorted({n for n in names if n and names.count(n) > 1 and n in CSV_COLUMNS})
    if duplicates:
        raise CatalogImportError(f"column(s) {', '.join(duplicates)} appear more than once in the header")
    result.ignored_columns = [n for n in names if n not in CSV_COLUMNS]
    present = [n for n in CSV_COLUMNS if n in names and n != "sku"]
    upsert = _Upsert(conn, result, present)
    reader = csv.reader(lines, delimiter=delimiter)
    for cells in reader:
        line = reader.line_num + 1  # the header was line 1
        if not any(c.strip() for c in cells):
            continue
        raw = dict(zip(names, cells, strict=False))
        try:
            if len(cells) != len(names):
                raise InvalidItemError("row", f"{len(cells)} fields, the header has {len(names)}")
            row = _clean_row(raw, present)
        except InvalidItemError as exc:
            sku = (raw.get("sku") or "").strip() or None
            result.failed += 1
            result.errors.append(LineProblem(line, sku, str(exc)))
            continue
        upsert.add(line, row)
    upsert.flush()
    return result


def export_csv(conn: Connection, out: IO[str], *, delimiter: str = ";", include_inactive: bool = False) -> int:
    """Write the catalogue as CSV to ``out`` (the columns :func:`import_csv` reads), page by page; returns
    the number of items written. Prices use a decimal point; EANs their canonical 14 digits."""
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    count = 0
    for item in iter_items(conn, include_inactive=include_inactive):
        writer.writerow(
            [
                item.sku,
                item.ean or "",
                item.name,
                item.unit,
                "" if item.purchase_price is None else str(item.purchase_price),
                "" if item.vat_rate is None else str(item.vat_rate),
            ]
        )
        count += 1
    return count


# ------------------------------------------------------------------------------------------ from the shop
def import_from_shop(conn: Connection, shop_id: int) -> CatalogImport:
    """Upsert the catalogue from a shop's variants (normally the master shop's): ``code`` → SKU, and the
    EAN, name (product name, with the variant's name in brackets), unit and VAT rate.

    Purchase prices are not touched (shops do not know them). The catalogue stays the source of truth: the
    shop's variants remain its listings, joined by ``sku = code``; nothing is copied back. A variant with a
    bad EAN is skipped and reported (``line`` is its place in the listing, by variant id), like a bad CSV
    line. :class:`~conveyor.commerce.store.ShopNotFoundError` when the shop does not exist."""
    if conn.execute(select(shops.c.id).where(shops.c.id == shop_id)).first() is None:
        raise ShopNotFoundError(shop_id)
    result = CatalogImport()
    upsert = _Upsert(conn, result, ("ean", "name", "unit", "vat_rate"))
    after, position = 0, 0
    while True:
        rows = conn.execute(
            select(
                variants.c.id,
                variants.c.code,
                variants.c.ean,
                variants.c.name,
                variants.c.unit,
                variants.c.vat_rate,
                products.c.name.label("product_name"),
            )
            .join(products, products.c.id == variants.c.product_id)
            .where(variants.c.shop_id == shop_id, variants.c.id > after)
            .order_by(variants.c.id)
            .limit(IMPORT_CHUNK)
        ).all()
        for row in rows:
            position += 1
            name = _listing_name(row.product_name, row.name) or row.code
            raw = {"sku": row.code, "ean": row.ean, "name": name, "unit": row.unit, "vat_rate": row.vat_rate}
            try:
                upsert.add(position, _clean_row(raw, ("ean", "name", "unit", "vat_rate")))
            except InvalidItemError as exc:
                result.failed += 1
                result.errors.append(LineProblem(position, (row.code or "").strip() or None, str(exc)))
        if len(rows) < IMPORT_CHUNK:
            break
        after = int(rows[-1].id)
    upsert.flush()
    return result


def _listing_name(product_name: str | None, variant_name: str | None) -> str | None:
    product_name = (product_name or "").strip()
    variant_name = (variant_name or "").strip()
    if product_name and variant_name and variant_name != product_name:
        return f"{product_name} ({variant_name})"
    return product_name or variant_name or None
