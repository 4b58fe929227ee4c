"""Stock documents: the only way stock changes (besides reservations).

==========  ==========================================================================================
``PZ``      receipt: lines add ``quantity`` to the warehouse
``WZ``      issue: lines take ``quantity`` out of the warehouse
``MM``      transfer: lines move ``quantity`` from the warehouse to ``target_warehouse`` (two ledger rows)
``IN``      stock count: lines give the *counted* quantity; posting sets ``on_hand`` to it and records the
            difference (read from the locked row at posting time, so a concurrent posting is never undone)
``ST``      storno of a posted document: opposite ledger rows; made by :func:`storno_document`, never by hand
==========  ==========================================================================================

Life cycle: ``draft`` (lines can be edited, the draft deleted) → ``posted`` (immutable; editing raises
:class:`~conveyor.InvalidStateError`). Posting assigns the number from ``commerce_document_counters`` per
type and year, so drafts never leave gaps; the format is configurable (default ``{type}/{year}/{seq:05d}``
→ ``WZ/2026/00042``). A posted document can be stornoed once; a storno cannot be stornoed.

Posting writes the document's ledger rows, updates ``commerce_stock_levels`` and records the items changed
(``commerce_stock_changes``) in the caller's transaction, and refuses — writing nothing — when a line
would take ``available`` below zero in a warehouse that does not allow it (see :mod:`.stock` for locking).
Raise out of the transaction on any error: that is what rolls back the pieces a failing posting began.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, func, select

from conveyor import ConfigurationError, InvalidStateError
from conveyor.commerce.store._sql import insert_rows, now, one_of, upsert
from conveyor.commerce.store.catalog import parse_decimal, sku_key
from conveyor.commerce.store.schema import (
    catalog_items,
    document_counters,
    document_lines,
    documents,
    stock_ledger,
    warehouses,
)
from conveyor.commerce.store.stock import ZERO, Move, apply_moves, get_warehouse, lock_levels
from conveyor.commerce.warehouse.errors import DocumentError, DocumentNotFoundError, InvalidItemError, ItemNotFoundError


class DocType(StrEnum):
    """Kinds of stock documents (Czech/Polish warehouse practice)."""

    PZ = "PZ"  # příjemka / przyjęcie zewnętrzne: receipt
    WZ = "WZ"  # výdejka / wydanie zewnętrzne: issue
    MM = "MM"  # převodka / przesunięcie międzymagazynowe: transfer
    IN = "IN"  # inventura / inwentaryzacja: stock count
    ST = "ST"  # storno


class DocStatus(StrEnum):
    DRAFT = "draft"
    POSTED = "posted"


#: Types a user creates (ST is made by :func:`storno_document`).
CREATABLE = (DocType.PZ, DocType.WZ, DocType.MM, DocType.IN)
DESCRIPTIONS = {
    DocType.PZ: "receipt",
    DocType.WZ: "issue",
    DocType.MM: "transfer",
    DocType.IN: "stock count",
    DocType.ST: "storno",
}
DEFAULT_NUMBER_FORMAT = "{type}/{year}/{seq:05d}"


def check_number_format(number_format: str) -> str:
    """``number_format`` if it makes numbers (``{type}``, ``{year}``, ``{seq}`` with format specs);
    :class:`~conveyor.ConfigurationError` saying what is wrong otherwise."""
    if "{seq" not in number_format:
        raise ConfigurationError(f"document number format {number_format!r} must contain {{seq}} (e.g. {{seq:05d}})")
    try:
        sample = number_format.format(type="WZ", year=2026, seq=42)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigurationError(
            f"document number format {number_format!r} is not valid ({exc}); it may use {{type}}, {{year}} and "
            f"{{seq}}, e.g. {DEFAULT_NUMBER_FORMAT!r}"
        ) from None
    if len(sample) > 60:
        raise ConfigurationError(f"document number format {number_format!r} makes numbers longer than 60 characters")
    return number_format


@dataclass(frozen=True)
class LineInput:
    """A line to put on a draft: ``item`` is a catalogue item id or SKU; ``quantity`` moved (> 0), or for a
    stock count the counted quantity (>= 0); ``unit_price`` optional (>= 0)."""

    item: int | str
    quantity: Decimal | str | int
    unit_price: Decimal | str | int | None = None


@dataclass(frozen=True)
class DocumentLine:
    line_no: int
    item_id: int
    sku: str
    quantity: Decimal
    unit_price: Decimal | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "line_no": self.line_no,
            "item_id": self.item_id,
            "sku": self.sku,
            "quantity": str(self.quantity),
            "unit_price": None if self.unit_price is None else str(self.unit_price),
        }


@dataclass(frozen=True)
class Document:
    """A stock document; ``lines`` are loaded by :func:`get_document` (empty in listings)."""

    id: int
    doc_type: DocType
    status: DocStatus
    number: str | None
    year: int | None
    seq: int | None
    warehouse_id: int
    target_warehouse_id: int | None
    reverses_id: int | None
    cancelled_by_id: int | None
    reference: str | None
    note: str | None
    created_at: float
    posted_at: float | None
    lines: tuple[DocumentLine, ...] = field(default=())

    @property
    def label(self) -> str:
        """The number once posted, else ``draft #id`` (for messages)."""
        return self.number or f"{self.doc_type.value} draft #{self.id}"

    def as_dict(self, *, with_lines: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "type": self.doc_type.value,
            "status": self.status.value,
            "number": self.number,
            "warehouse_id": self.warehouse_id,
            "target_warehouse_id": self.target_warehouse_id,
            "reverses_id": self.reverses_id,
            "cancelled_by_id": self.cancelled_by_id,
            "reference": self.reference,
            "note": self.note,
            "created_at": self.created_at,
            "posted_at": self.posted_at,
        }
        if with_lines:
            data["lines"] = [line.as_dict() for line in self.lines]
        return data


_COLUMNS = (
    documents.c.id,
    documents.c.doc_type,
    documents.c.status,
    documents.c.number,
    documents.c.year,
    documents.c.seq,
    documents.c.warehouse_id,
    documents.c.target_warehouse_id,
    documents.c.reverses_id,
    documents.c.cancelled_by_id,
    documents.c.reference,
    documents.c.note,
    documents.c.created_at,
    documents.c.posted_at,
)


def _document(row: Sequence[Any], lines: tuple[DocumentLine, ...] = ()) -> Document:
    values = list(row)
    values[1], values[2] = DocType(values[1]), DocStatus(values[2])
    return Document(*values, lines=lines)  # type: ignore[misc]


# ------------------------------------------------------------------------------------------ drafts
class _Line(NamedTuple):
    line_no: int
    item_id: int
    quantity: Decimal
    unit_price: Decimal | None
    sku: str

    def public(self) -> DocumentLine:
        return DocumentLine(self.line_no, self.item_id, self.sku, self.quantity, self.unit_price)


def _doc_type(doc_type: DocType | str) -> DocType:
    try:
        value = DocType(str(doc_type).strip().upper())
    except ValueError:
        value = None
    if value is None or value not in CREATABLE:
        kinds = ", ".join(f"{t.value} ({DESCRIPTIONS[t]})" for t in CREATABLE)
        hint = " (a storno is made from a posted document: storno_document)" if value is DocType.ST else ""
        raise DocumentError(f"unknown document type {str(doc_type)!r}{hint}; use one of {kinds}")
    return value


def _clean_lines(conn: Connection, doc_type: DocType, lines: Sequence[LineInput]) -> list[_Line]:
    """Resolve items (id or SKU) and check quantities and prices; raises before anything is written."""
    keys = {sku_key(line.item) for line in lines if isinstance(line.item, str)}
    ids = {line.item for line in lines if isinstance(line.item, int)}
    by_key: dict[str, tuple[int, str, bool]] = {}
    by_id: dict[int, tuple[int, str, bool]] = {}
    if keys or ids:
        found = conn.execute(
            select(catalog_items.c.id, catalog_items.c.sku_key, catalog_items.c.sku, catalog_items.c.active).where(
                one_of(catalog_items.c.sku_key, sorted(keys)) | one_of(catalog_items.c.id, sorted(ids))
            )
        )
        for item_id, key, sku, active in found:
            by_key[key] = by_id[int(item_id)] = (int(item_id), sku, bool(active))
    cleaned: list[_Line] = []
    seen: dict[int, int] = {}
    for n, line in enumerate(lines, start=1):
        label = f"line {n} ({line.item})"
        known = by_key.get(sku_key(line.item)) if isinstance(line.item, str) else by_id.get(line.item)
        if known is None:
            raise ItemNotFoundError(line.item.strip() if isinstance(line.item, str) else line.item)
        item_id, sku, active = known
        if not active:
            raise DocumentError(f"{label}: the item is deactivated; reactivate it before putting it on a document")
        try:
            quantity = parse_decimal(line.quantity, "quantity", places=3, minimum=None)
            price = parse_decimal(line.unit_price, "unit price", places=2)
        except InvalidItemError as exc:
            raise DocumentError(f"{label}: {exc}") from None
        if quantity is None:
            raise DocumentError(f"{label}: the quantity is missing")
        if doc_type is DocType.IN:
            if quantity < 0:
                raise DocumentError(f"{label}: counted quantity {quantity.normalize():f} is negative")
            if item_id in seen:
                raise DocumentError(
                    f"{label}: the item is already counted on line {seen[item_id]}; a stock count lists each item once"
                )
        elif quantity <= 0:
            raise DocumentError(
                f"{label}: quantity {quantity.normalize():f} must be greater than zero "
                f"(to undo a posted document, storno it)"
            )
        seen.setdefault(item_id, n)
        cleaned.append(_Line(n, item_id, quantity, price, sku))
    return cleaned


def _warehouses(
    conn: Connection, doc_type: DocType, warehouse: int | str, target: int | str | None
) -> tuple[int, int | None]:
    source = get_warehouse(conn, warehouse)
    if doc_type is DocType.MM:
        if target is None:
            raise DocumentError("a transfer (MM) needs a target warehouse")
        goal = get_warehouse(conn, target)
        if goal.id == source.id:
            raise DocumentError(f"a transfer (MM) must go to another warehouse, not from {source.code} to itself")
        return source.id, goal.id
    if target is not None:
        raise DocumentError(f"only a transfer (MM) has a target warehouse, not a {doc_type.value}")
    return source.id, None


def _text(value: str | None, what: str, limit: int | None) -> str | None:
    if value is None or not value.strip():
        return None
    if limit is not None and len(value.strip()) > limit:
        raise DocumentError(f"{what} is longer than {limit} characters")
    return value.strip()


def create_document(
    conn: Connection,
    doc_type: DocType | str,
    warehouse: int | str,
    lines: Sequence[LineInput] = (),
    *,
    target_warehouse: int | str | None = None,
    reference: str | None = None,
    note: str | None = None,
) -> Document:
    """Create a draft document of ``doc_type`` (PZ, WZ, MM, IN) in ``warehouse`` (id or code) with ``lines``.

    Refused before anything is written: an unknown type or warehouse, a transfer without a target or to the
    same warehouse (:class:`DocumentError`), an unknown item (:class:`ItemNotFoundError`), a quantity that
    is not > 0 (>= 0 on a stock count), an item twice on a stock count."""
    kind = _doc_type(doc_type)
    warehouse_id, target_id = _warehouses(conn, kind, warehouse, target_warehouse)
    cleaned = _clean_lines(conn, kind, lines)
    values: dict[str, Any] = {
        "doc_type": kind.value,
        "status": DocStatus.DRAFT.value,
        "warehouse_id": warehouse_id,
        "target_warehouse_id": target_id,
        "reference": _text(reference, "the reference", 255),
        "note": _text(note, "the note", None),
        "created_at": now(),
    }
    document_id = int(conn.execute(documents.insert().values(**values).returning(documents.c.id)).scalar_one())
    _insert_lines(conn, document_id, cleaned)
    return Document(
        id=document_id, doc_type=kind, status=DocStatus.DRAFT, number=None, year=None, seq=None,
        warehouse_id=warehouse_id, target_warehouse_id=target_id, reverses_id=None, cancelled_by_id=None,
        reference=values["reference"], note=values["note"], created_at=values["created_at"], posted_at=None,
        lines=tuple(line.public() for line in cleaned),
    )  # fmt: skip


def _insert_lines(conn: Connection, document_id: int, lines: Sequence[_Line]) -> None:
    insert_rows(
        conn,
        document_lines,
        [
            {"document_id": document_id, "line_no": n, "item_id": i, "quantity": q, "unit_price": p}
            for n, i, q, p, _ in lines
        ],
    )


_UNSET: Any = object()


def update_document(
    conn: Connection,
    document_id: int,
    *,
    lines: Sequence[LineInput] = _UNSET,
    warehouse: int | str = _UNSET,
    target_warehouse: int | str | None = _UNSET,
    reference: str | None = _UNSET,
    note: str | None = _UNSET,
) -> Document:
    """Change a draft: replace its lines, warehouses, reference or note. A posted document is immutable
    (:class:`~conveyor.InvalidStateError`); the same checks as :func:`create_document` apply."""
    doc = _lock_document(conn, document_id)
    _require_draft(doc, "edited")
    values: dict[str, Any] = {}
    if warehouse is not _UNSET or target_warehouse is not _UNSET:
        source = doc.warehouse_id if warehouse is _UNSET else warehouse
        target = doc.target_warehouse_id if target_warehouse is _UNSET else target_warehouse
        values["warehouse_id"], values["target_warehouse_id"] = _warehouses(conn, doc.doc_type, source, target)
    if reference is not _UNSET:
        values["reference"] = _text(reference, "the reference", 255)
    if note is not _UNSET:
        values["note"] = _text(note, "the note", None)
    if lines is not _UNSET:
        cleaned = _clean_lines(conn, doc.doc_type, lines)
        conn.execute(document_lines.delete().where(document_lines.c.document_id == document_id))
        _insert_lines(conn, document_id, cleaned)
    if values:
        conn.execute(documents.update().where(documents.c.id == document_id).values(**values))
    return get_document(conn, document_id)


def delete_document(conn: Connection, document_id: int) -> None:
    """Delete a draft with its lines; a posted document cannot be deleted (storno it instead)."""
    doc = _lock_document(conn, document_id)
    _require_draft(doc, "deleted (storno it instead)")
    conn.execute(document_lines.delete().where(document_lines.c.document_id == document_id))
    conn.execute(documents.delete().where(documents.c.id == document_id))


def _require_draft(doc: Document, action: str) -> None:
    if doc.status is not DocStatus.DRAFT:
        raise InvalidStateError(f"document {doc.label} is posted and cannot be {action}")


def _lock_document(conn: Connection, document_id: int) -> Document:
    """The document's row, locked (PostgreSQL) so that two transactions never post, edit or storno one
    document at once: the second waits, then sees the first one's result."""
    row = conn.execute(select(*_COLUMNS).where(documents.c.id == document_id).with_for_update()).first()
    if row is None:
        raise DocumentNotFoundError(document_id)
    return _document(row)


# ------------------------------------------------------------------------------------------ reading
def get_document(conn: Connection, document_id: int) -> Document:
    """A document with its lines; :class:`DocumentNotFoundError` if there is none."""
    row = conn.execute(select(*_COLUMNS).where(documents.c.id == document_id)).first()
    if row is None:
        raise DocumentNotFoundError(document_id)
    lines = conn.execute(
        select(
            document_lines.c.line_no,
            document_lines.c.item_id,
            catalog_items.c.sku,
            document_lines.c.quantity,
            document_lines.c.unit_price,
        )
        .join(catalog_items, catalog_items.c.id == document_lines.c.item_id)
        .where(document_lines.c.document_id == document_id)
        .order_by(document_lines.c.line_no)
    )
    return _document(row, tuple(DocumentLine(int(r[0]), int(r[1]), r[2], r[3], r[4]) for r in lines))


def find_document(conn: Connection, ref: int | str) -> Document:
    """A document by id (an int or digits) or by number (``WZ/2026/00042``, case-insensitive)."""
    if isinstance(ref, int) or ref.strip().isdigit():
        return get_document(conn, int(ref))
    document_id = conn.execute(
        select(documents.c.id).where(func.upper(documents.c.number) == ref.strip().upper())
    ).scalar_one_or_none()
    if document_id is None:
        raise DocumentNotFoundError(ref.strip())
    return get_document(conn, int(document_id))


def list_documents(
    conn: Connection,
    *,
    doc_type: DocType | str | None = None,
    status: DocStatus | str | None = None,
    warehouse_id: int | None = None,
    date_from: float | None = None,
    date_to: float | None = None,
    after_id: int = 0,
    before_id: int | None = None,
    newest_first: bool = False,
    limit: int = 50,
) -> list[Document]:
    """Documents by id after ``after_id`` (keyset pages), without lines; with ``newest_first``, by id
    descending and below ``before_id`` (what a list page shows). ``date_from``/``date_to`` (epoch seconds,
    ``date_to`` exclusive) filter on the document's date: when it was posted, or created for drafts."""
    query = select(*_COLUMNS).where(documents.c.id > after_id)
    if before_id is not None:
        query = query.where(documents.c.id < before_id)
    if doc_type is not None:
        try:
            query = query.where(documents.c.doc_type == DocType(str(doc_type).upper()).value)
        except ValueError:
            raise DocumentError(f"unknown document type {doc_type!r} (PZ, WZ, MM, IN, ST)") from None
    if status is not None:
        try:
            query = query.where(documents.c.status == DocStatus(str(status).lower()).value)
        except ValueError:
            raise DocumentError(f"unknown document status {status!r} (draft, posted)") from None
    if warehouse_id is not None:
        query = query.where(
            (documents.c.warehouse_id == warehouse_id) | (documents.c.target_warehouse_id == warehouse_id)
        )
    when = func.coalesce(documents.c.posted_at, documents.c.created_at)
    if date_from is not None:
        query = query.where(when >= date_from)
    if date_to is not None:
        query = query.where(when < date_to)
    order = documents.c.id.desc() if newest_first else documents.c.id
    rows = conn.execute(query.order_by(order).limit(max(1, min(limit, 1000))))
    return [_document(row) for row in rows]


# ------------------------------------------------------------------------------------------ posting
def post_document(
    conn: Connection, document_id: int, *, number_format: str = DEFAULT_NUMBER_FORMAT, timezone: str = "UTC"
) -> Document:
    """Post a draft: check every line against the locked stock, write the ledger rows, update the totals and
    record the changed items, then give the document its number — all in the caller's transaction.

    Refused with nothing written: :class:`InsufficientStockError` (names item SKU, warehouse, requested and
    available) when ``available`` would go below zero where that is not allowed; :class:`DocumentError`
    for a document without lines; :class:`~conveyor.InvalidStateError` when it is already posted.
    ``timezone`` decides which year a posting at New Year belongs to."""
    doc = _lock_document(conn, document_id)
    if doc.status is not DocStatus.DRAFT:
        raise InvalidStateError(f"document {doc.label} is already posted")
    lines = _read_lines(conn, document_id)
    if not lines:
        raise DocumentError(f"document {doc.label} has no lines; add lines before posting")
    keys = [(line.item_id, doc.warehouse_id) for line in lines]
    if doc.target_warehouse_id is not None:
        keys += [(line.item_id, doc.target_warehouse_id) for line in lines]
    locked = lock_levels(conn, keys)
    moves: list[Move] = []
    for line_no, item_id, qty, _, _ in lines:
        if doc.doc_type is DocType.PZ:
            moves.append(Move(item_id, doc.warehouse_id, qty, ZERO, line_no))
        elif doc.doc_type is DocType.WZ:
            moves.append(Move(item_id, doc.warehouse_id, -qty, ZERO, line_no))
        elif doc.doc_type is DocType.MM:
            assert doc.target_warehouse_id is not None
            moves.append(Move(item_id, doc.warehouse_id, -qty, ZERO, line_no))
            moves.append(Move(item_id, doc.target_warehouse_id, qty, ZERO, line_no))
        else:  # IN: the difference between what was counted and what the locked row says
            on_hand = locked[(item_id, doc.warehouse_id)].on_hand
            moves.append(Move(item_id, doc.warehouse_id, qty - on_hand, ZERO, line_no))
    what = f"posting {doc.doc_type.value} draft #{doc.id}"
    apply_moves(conn, moves, locked, what=what, document_id=document_id)
    at = now()
    year, seq, number = _next_number(conn, doc.doc_type, at, number_format, timezone)
    conn.execute(
        documents.update()
        .where(documents.c.id == document_id)
        .values(status=DocStatus.POSTED.value, number=number, year=year, seq=seq, posted_at=at)
    )
    return replace(
        doc, status=DocStatus.POSTED, number=number, year=year, seq=seq, posted_at=at,
        lines=tuple(line.public() for line in lines),
    )  # fmt: skip


def _read_lines(conn: Connection, document_id: int) -> list[_Line]:
    rows = conn.execute(
        select(
            document_lines.c.line_no,
            document_lines.c.item_id,
            document_lines.c.quantity,
            document_lines.c.unit_price,
            catalog_items.c.sku,
        )
        .join(catalog_items, catalog_items.c.id == document_lines.c.item_id)
        .where(document_lines.c.document_id == document_id)
        .order_by(document_lines.c.line_no)
    )
    return [_Line(int(n), int(i), Decimal(q), p, sku) for n, i, q, p, sku in rows]


def storno_document(
    conn: Connection,
    document_id: int,
    *,
    note: str | None = None,
    number_format: str = DEFAULT_NUMBER_FORMAT,
    timezone: str = "UTC",
) -> Document:
    """Cancel a posted document with a storno (``ST``): a new posted document whose ledger rows are the
    original's, reversed; the original gets ``cancelled_by_id``. Returns the storno.

    :class:`~conveyor.InvalidStateError` for a draft (delete it instead), a storno, or a document already
    stornoed; :class:`InsufficientStockError` when reversing would take stock below zero (e.g. a receipt
    whose goods were already issued), with nothing written."""
    doc = _lock_document(conn, document_id)
    if doc.status is not DocStatus.POSTED:
        raise InvalidStateError(f"document {doc.label} is a draft: delete it instead of a storno")
    if doc.doc_type is DocType.ST:
        raise InvalidStateError(f"document {doc.label} is a storno; a storno cannot be stornoed")
    if doc.cancelled_by_id is not None:
        by = conn.execute(select(documents.c.number).where(documents.c.id == doc.cancelled_by_id)).scalar_one()
        raise InvalidStateError(f"document {doc.label} is already stornoed by {by}")
    ledger = conn.execute(
        select(
            stock_ledger.c.item_id,
            stock_ledger.c.warehouse_id,
            stock_ledger.c.on_hand_delta,
            stock_ledger.c.reserved_delta,
            stock_ledger.c.line_no,
        )
        .where(stock_ledger.c.document_id == document_id)
        .order_by(stock_ledger.c.id)
    ).all()
    locked = lock_levels(conn, [(int(r.item_id), int(r.warehouse_id)) for r in ledger])
    at = now()
    storno_id = int(
        conn.execute(
            documents.insert()
            .values(
                doc_type=DocType.ST.value,
                status=DocStatus.POSTED.value,
                warehouse_id=doc.warehouse_id,
                target_warehouse_id=doc.target_warehouse_id,
                reverses_id=doc.id,
                reference=doc.number,
                note=_text(note, "the note", None),
                created_at=at,
                posted_at=at,
            )
            .returning(documents.c.id)
        ).scalar_one()
    )
    moves = [
        Move(int(r.item_id), int(r.warehouse_id), -Decimal(r.on_hand_delta), -Decimal(r.reserved_delta), r.line_no)
        for r in ledger
    ]
    apply_moves(conn, moves, locked, what=f"storno of {doc.label}", document_id=storno_id)
    _insert_lines(conn, storno_id, _read_lines(conn, document_id))
    year, seq, number = _next_number(conn, DocType.ST, at, number_format, timezone)
    conn.execute(documents.update().where(documents.c.id == storno_id).values(number=number, year=year, seq=seq))
    conn.execute(documents.update().where(documents.c.id == document_id).values(cancelled_by_id=storno_id))
    return get_document(conn, storno_id)


def _next_number(
    conn: Connection, doc_type: DocType, at: float, number_format: str, timezone: str
) -> tuple[int, int, str]:
    """Take the next number of ``doc_type`` in the year of ``at``: the counter row is locked until commit,
    so numbers have no gaps and no duplicates (a rolled-back posting gives its number back)."""
    try:
        year = datetime.fromtimestamp(at, tz=ZoneInfo(timezone) if timezone != "UTC" else UTC).year
    except ZoneInfoNotFoundError:
        raise ConfigurationError(f"unknown time zone {timezone!r} for document numbering") from None
    bump = (
        document_counters.update()
        .where(document_counters.c.doc_type == doc_type.value, document_counters.c.year == year)
        .values(last_seq=document_counters.c.last_seq + 1)
        .returning(document_counters.c.last_seq)
    )
    seq = conn.execute(bump).scalar_one_or_none()
    if seq is None:  # the first document of this type this year
        conn.execute(
            upsert(conn, document_counters)
            .values(doc_type=doc_type.value, year=year, last_seq=0)
            .on_conflict_do_nothing(index_elements=["doc_type", "year"])
        )
        seq = conn.execute(bump).scalar_one()
    number = number_format.format(type=doc_type.value, year=year, seq=int(seq))
    return year, int(seq), number


def warehouse_codes(conn: Connection) -> dict[int, str]:
    """Warehouse id → code (for showing documents)."""
    return {int(i): c for i, c in conn.execute(select(warehouses.c.id, warehouses.c.code))}
