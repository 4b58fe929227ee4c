"""The warehouse in the web app: the catalogue, stock and stock documents, as a JSON API and dashboard pages.

Reads and writes go through :mod:`conveyor.commerce.warehouse` (the functions the CLI calls), so a rule —
which document may be posted, what a line must look like, when stock may not go below zero — is decided in
one place and the pages, the API and ``conveyor docs …`` always agree. Every list is keyset-paginated with an
opaque cursor (``?cursor=`` → ``next_cursor``); errors have the API's shape, ``{"error": {"code", "message",
"field"?}}``, with the status that says whose fault it is.

=============================================  ==============================================================
``GET /api/warehouse/items``                   the catalogue; ``q`` (SKU prefix, EAN or name), ``sku``, ``ean``,
                                               ``name``, ``inactive=true``; ``{"items", "next_cursor"}``
``GET /api/warehouse/items/{id}``              one item: stock per warehouse, effective availability, supplier
                                               offers and their links (404 ``item_not_found``)
``GET /api/warehouse/warehouses``              warehouses by id
``GET /api/warehouse/stock``                   stock per (item, warehouse); ``item`` (id or SKU), ``warehouse``
``GET /api/warehouse/documents``               documents by id; ``type``, ``status``, ``warehouse``, ``date_from``
                                               and ``date_to`` (``YYYY-MM-DD``, both days included)
``GET /api/warehouse/documents/{id}``          one document with its lines and its ledger effect
``POST /api/warehouse/documents``              create a draft (``"post": true`` posts it too) → 201
``POST /api/warehouse/documents/{id}/post``    post a draft → 200; 409 when already posted; 422 when stock would
                                               go below zero (``shortages`` name SKU, warehouse and shortfall)
``POST /api/warehouse/documents/{id}/storno``  storno a posted document → 201 with the storno; 409 the second time
``POST /api/warehouse/documents/{id}/delete``  delete a draft → 200; 409 for a posted document (storno it)
``/catalog``, ``/catalog/{id}``, ``/stock``    the pages (search box, Next links)
``/documents``, ``/documents/{id}``            documents: filters, a form for a new draft, post and storno
=============================================  ==============================================================
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from conveyor import Conveyor, ConveyorError
from conveyor.commerce import warehouse
from conveyor.commerce.store import feeds as feed_store
from conveyor.commerce.store import links as link_store
from conveyor.commerce.store.catalog import CatalogItem
from conveyor.commerce.store.documents import CREATABLE, DESCRIPTIONS, DocStatus, DocType, Document, LineInput
from conveyor.commerce.store.schema import catalog_items, stock_ledger, warehouses
from conveyor.commerce.warehouse.errors import (
    CatalogError,
    DocumentError,
    DocumentNotFoundError,
    InsufficientStockError,
    InvalidItemError,
    ItemNotFoundError,
    ReservationError,
    WarehouseError,
    WarehouseNotFoundError,
)
from conveyor.web.extensions import InvalidCursorError, decode_cursor, encode_cursor, error_response, not_found_page
from conveyor.web.extensions import render as render_page

api = APIRouter(tags=["warehouse"])
pages = APIRouter(include_in_schema=False)

#: Rows per page on the pages, and the API's default.
PAGE = 50
#: The most rows one API page may ask for.
MAX_LIMIT = 500

#: The warehouse's exceptions → (HTTP status, code, the request field it is about). Refusals of bad input are
#: 422 and name what is wrong; a missing id in the URL is 404. (A posted document posted or stornoed again is
#: :class:`~conveyor.InvalidStateError`, which the core API already answers with 409 ``invalid_state``.)
ERRORS: list[tuple[type[ConveyorError], int, str, str | None]] = [
    (ItemNotFoundError, 404, "item_not_found", None),
    (WarehouseNotFoundError, 404, "warehouse_not_found", None),
    (DocumentNotFoundError, 404, "document_not_found", None),
    (DocumentError, 422, "invalid_document", None),
    (CatalogError, 422, "invalid_item", None),
    (WarehouseError, 422, "invalid_warehouse", None),
    (ReservationError, 422, "invalid_reservation", None),
]


class InvalidFilterError(ConveyorError):
    """A list filter that cannot be applied (a date that is not ``YYYY-MM-DD``); ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


def add_error_handlers(app: FastAPI) -> None:
    """Answer the warehouse's exceptions in the API's error shape (see :data:`ERRORS`)."""
    for exc_type, status, code, field in ERRORS:

        def handler(
            _r: Request, exc: Exception, status: int = status, code: str = code, field: str | None = field
        ) -> Response:
            return error_response(status, code, str(exc), getattr(exc, "field", None) or field)

        app.add_exception_handler(exc_type, handler)

    def short(_r: Request, exc: Exception) -> Response:
        assert isinstance(exc, InsufficientStockError)
        return error_response(422, "insufficient_stock", str(exc), None, shortages=shortages_view(exc))

    def bad_filter(_r: Request, exc: Exception) -> Response:
        assert isinstance(exc, InvalidFilterError)
        return error_response(422, f"invalid_{exc.field}", str(exc), exc.field)

    app.add_exception_handler(InsufficientStockError, short)
    app.add_exception_handler(InvalidFilterError, bad_filter)


def shortages_view(exc: InsufficientStockError) -> list[dict[str, Any]]:
    """Each item a posting would take below zero: SKU, warehouse, requested, available and the shortfall."""
    return [
        {
            "sku": s.sku,
            "warehouse": s.warehouse,
            "requested": _num(s.requested),
            "available": _num(s.available),
            "short": _num(s.requested - s.available),
        }
        for s in exc.shortages
    ]


def _app(request: Request) -> Conveyor:
    conveyor: Conveyor = request.app.state.conveyor
    return conveyor


def _base(request: Request) -> str:
    return str(request.scope.get("root_path") or "").rstrip("/")


def _num(value: Decimal | None) -> str | None:
    """A quantity or price as the API spells it: a string without trailing zeros (``"5"``, ``"12.5"``)."""
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


# ---------------------------------------------------------------------------------------------- cursors
def _pair_cursor(pair: tuple[int, int]) -> str:
    """An opaque cursor for a list keyed by two ids (stock: item, warehouse)."""
    return base64.urlsafe_b64encode(json.dumps({"after": list(pair)}).encode()).decode().rstrip("=")


def _decode_pair(cursor: str | None) -> tuple[int, int]:
    if not cursor:
        return (0, 0)
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["after"]
        a, b = value
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise InvalidCursorError(cursor) from None
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**63 for v in (a, b)):
        raise InvalidCursorError(cursor)
    return (a, b)


# ---------------------------------------------------------------------------------------------- reads
def item_view(item: CatalogItem) -> dict[str, Any]:
    """A catalogue item as the API returns it (decimals as strings)."""
    return item.as_dict()


def catalog_page(
    app: Conveyor,
    *,
    q: str | None = None,
    sku: str | None = None,
    ean: str | None = None,
    name: str | None = None,
    include_inactive: bool = False,
    cursor: str | None = None,
    limit: int = PAGE,
) -> dict[str, Any]:
    """A page of the catalogue by id: ``{"items", "next_cursor"}``."""
    after = decode_cursor(cursor) or 0
    found = warehouse.search_items(
        app,
        q or None,
        sku_prefix=sku or None,
        ean=ean or None,
        name=name or None,
        include_inactive=include_inactive,
        after_id=after,
        limit=limit + 1,
    )
    page = found[:limit]
    return {
        "items": [item_view(i) for i in page],
        "next_cursor": encode_cursor(page[-1].id) if len(found) > limit else None,
    }


def item_detail(app: Conveyor, item_id: int) -> dict[str, Any]:
    """One item with its stock in every warehouse (0 where it never moved), its effective availability, and
    the supplier items linked to it (the offers) with how each link was made."""
    item = warehouse.find_item(app, item_id)
    levels = {lv.warehouse_id: lv for lv in warehouse.stock_levels(app, item.id, limit=10_000)}
    stock = []
    for wh in warehouse.list_warehouses(app):
        lv = levels.get(wh.id)
        on_hand = lv.on_hand if lv else Decimal(0)
        reserved = lv.reserved if lv else Decimal(0)
        stock.append(
            {
                "warehouse_id": wh.id,
                "warehouse": wh.code,
                "warehouse_name": wh.name,
                "on_hand": _num(on_hand),
                "reserved": _num(reserved),
                "available": _num(on_hand - reserved),
            }
        )
    availability = warehouse.effective_availability(app, [item.id])[item.id].as_dict()
    for key in ("quantity", "own_available"):
        if availability[key] is not None:
            availability[key] = _num(Decimal(availability[key]))
    offers = []
    with app.read_transaction() as conn:
        suppliers: dict[int, feed_store.Supplier] = {}
        for link in link_store.list_links(conn, item_id=item.id, limit=1000):
            si = feed_store.get_supplier_item(conn, link.supplier_item_id)
            if si.supplier_id not in suppliers:
                suppliers[si.supplier_id] = feed_store.get_supplier(conn, si.supplier_id)
            supplier = suppliers[si.supplier_id]
            offers.append(
                {
                    "supplier_item_id": si.id,
                    "supplier_id": supplier.id,
                    "supplier": supplier.code,
                    "supplier_name": supplier.name,
                    "supplier_code": si.supplier_code,
                    "sku": si.sku,
                    "ean": si.ean,
                    "name": si.name,
                    "stock_quantity": _num(si.stock_quantity),
                    "in_stock": si.in_stock,
                    "delivery_days": si.delivery_days,
                    "purchase_price": _num(si.purchase_price),
                    "updated_at": si.updated_at,
                    "link": {"id": link.id, "method": link.method, "created_at": link.created_at},
                }
            )
    return {**item_view(item), "stock": stock, "availability": availability, "offers": offers}


def warehouses_page(app: Conveyor, *, cursor: str | None = None, limit: int = MAX_LIMIT) -> dict[str, Any]:
    """Warehouses by id: ``{"warehouses", "next_cursor"}``."""
    after = decode_cursor(cursor) or 0
    found = [w for w in warehouse.list_warehouses(app) if w.id > after]
    page = found[:limit]
    return {
        "warehouses": [
            {"id": w.id, "code": w.code, "name": w.name, "allow_negative": w.allow_negative, "created_at": w.created_at}
            for w in page
        ],
        "next_cursor": encode_cursor(page[-1].id) if len(found) > limit else None,
    }


def stock_page(
    app: Conveyor,
    *,
    item: str | None = None,
    warehouse_ref: str | None = None,
    cursor: str | None = None,
    limit: int = PAGE,
) -> dict[str, Any]:
    """Stock per (item, warehouse), keyset by that pair: ``{"stock", "next_cursor"}``. ``item`` is an id
    (``#12`` or digits) or a SKU, ``warehouse_ref`` an id or code."""
    after = _decode_pair(cursor)
    item_ref: int | str | None = None
    if item:
        item_ref = int(item) if item.isdecimal() else item
    wh_ref: int | str | None = None
    if warehouse_ref:
        wh_ref = int(warehouse_ref) if warehouse_ref.isdecimal() else warehouse_ref
    found = warehouse.stock_levels(app, item_ref, warehouse=wh_ref, after=after, limit=limit + 1)
    page = found[:limit]
    rows = [
        {**lv.as_dict(), "on_hand": _num(lv.on_hand), "reserved": _num(lv.reserved), "available": _num(lv.available)}
        for lv in page
    ]
    last = page[-1] if page else None
    return {
        "stock": rows,
        "next_cursor": _pair_cursor((last.item_id, last.warehouse_id)) if last and len(found) > limit else None,
    }


def _day(text: str | None, field: str, tz: str) -> float | None:
    """Midnight of a ``YYYY-MM-DD`` day in the warehouse's time zone, as epoch seconds."""
    if not text:
        return None
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidFilterError(field, f"{field}: {text!r} is not a date: write it as YYYY-MM-DD") from None
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz)).timestamp()


def _warehouse_codes(app: Conveyor) -> dict[int, str]:
    return {w.id: w.code for w in warehouse.list_warehouses(app)}


def document_summary(doc: Document, codes: dict[int, str]) -> dict[str, Any]:
    """A document as lists show it: its fields, with the warehouses' codes and what its type means."""
    return {
        **doc.as_dict(with_lines=False),
        "label": doc.label,
        "description": DESCRIPTIONS[doc.doc_type],
        "warehouse": codes.get(doc.warehouse_id),
        "target_warehouse": None if doc.target_warehouse_id is None else codes.get(doc.target_warehouse_id),
    }


def documents_page(
    app: Conveyor,
    *,
    doc_type: str | None = None,
    status: str | None = None,
    warehouse_ref: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    cursor: str | None = None,
    limit: int = PAGE,
) -> dict[str, Any]:
    """Documents, newest first: ``{"documents", "next_cursor"}``. ``date_from``/``date_to`` are days (both included)
    in the warehouse's time zone, compared with the posting date (the creation date of drafts)."""
    tz = warehouse.pack_of(app).timezone
    start = _day(date_from, "date_from", tz)
    end = _day(date_to, "date_to", tz)
    if end is not None:
        end += timedelta(days=1).total_seconds()  # the last day is included
    wh_ref: int | str | None = None
    if warehouse_ref:
        wh_ref = int(warehouse_ref) if warehouse_ref.isdecimal() else warehouse_ref
    found = warehouse.list_documents(
        app,
        doc_type=doc_type or None,
        status=status or None,
        warehouse=wh_ref,
        date_from=start,
        date_to=end,
        before_id=decode_cursor(cursor),
        newest_first=True,
        limit=limit + 1,
    )
    page = found[:limit]
    codes = _warehouse_codes(app)
    return {
        "documents": [document_summary(d, codes) for d in page],
        "next_cursor": encode_cursor(page[-1].id) if len(found) > limit else None,
    }


def _ledger(app: Conveyor, document_id: int) -> list[dict[str, Any]]:
    """What posting the document did to stock: its ledger rows (read-only; the warehouse layer has no
    function for one document's ledger yet)."""
    led = stock_ledger.c
    query = (
        select(led.line_no, led.item_id, catalog_items.c.sku, warehouses.c.code, led.on_hand_delta, led.reserved_delta)
        .join(catalog_items, catalog_items.c.id == led.item_id)
        .join(warehouses, warehouses.c.id == led.warehouse_id)
        .where(led.document_id == document_id)
        .order_by(led.id)
    )
    with app.read_transaction() as conn:
        return [
            {
                "line_no": r.line_no,
                "item_id": int(r.item_id),
                "sku": r.sku,
                "warehouse": r.code,
                "on_hand_delta": _num(Decimal(r.on_hand_delta)),
                "reserved_delta": _num(Decimal(r.reserved_delta)),
            }
            for r in conn.execute(query)
        ]


def document_detail(app: Conveyor, ref: int | str) -> dict[str, Any]:
    """One document with its lines (SKU, name, quantity, price), its ledger effect once posted, and the
    numbers of the document it reverses and of its storno."""
    doc = warehouse.get_document(app, ref)
    codes = _warehouse_codes(app)
    view = document_summary(doc, codes)
    with app.read_transaction() as conn:
        ids = [line.item_id for line in doc.lines]
        names = (
            dict(
                conn.execute(select(catalog_items.c.id, catalog_items.c.name).where(catalog_items.c.id.in_(ids))).all()
            )
            if ids
            else {}
        )
    view["lines"] = [
        {
            **line.as_dict(),
            "quantity": _num(line.quantity),
            "unit_price": _num(line.unit_price),
            "name": names.get(line.item_id),
        }
        for line in doc.lines
    ]
    view["ledger"] = _ledger(app, doc.id)
    related = {"reverses": doc.reverses_id, "cancelled_by": doc.cancelled_by_id}
    for key, other in related.items():
        view[f"{key}_number"] = None if other is None else warehouse.get_document(app, other).label
    view["can_post"] = doc.status is DocStatus.DRAFT
    view["can_storno"] = (
        doc.status is DocStatus.POSTED and doc.doc_type is not DocType.ST and doc.cancelled_by_id is None
    )
    return view


# ---------------------------------------------------------------------------------------------- bodies
class LineBody(BaseModel):
    """A document line: the item's SKU (or ``#id``), the quantity and an optional unit price."""

    model_config = ConfigDict(extra="forbid")

    sku: str = Field(min_length=1)
    quantity: str | int | float
    unit_price: str | int | float | None = None


class DocumentBody(BaseModel):
    """A new document. ``lines`` are objects or ``"SKU:QUANTITY[:UNIT_PRICE]"`` texts (what the page's
    textarea sends, one per line)."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1)
    warehouse: str | int
    target_warehouse: str | int | None = None
    reference: str | None = None
    note: str | None = None
    lines: list[LineBody | str] = Field(default_factory=list)
    post: bool = False


class StornoBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = None


def _text(value: str | int | float | None) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _lines(body: DocumentBody) -> list[LineInput]:
    lines: list[LineInput] = []
    for n, raw in enumerate(body.lines, start=1):
        if isinstance(raw, str):
            if not raw.strip():
                continue
            try:
                lines.append(warehouse.parse_line(raw.strip()))
            except DocumentError as exc:
                raise DocumentError(f"line {n}: {exc}") from None
        else:
            lines.append(LineInput(raw.sku.strip(), str(raw.quantity).strip(), _text(raw.unit_price)))
    return lines


def _ref(value: str | int | None) -> int | str | None:
    if value is None or isinstance(value, int):
        return value
    text = value.strip()
    if not text:
        return None
    return int(text) if text.isdecimal() else text


# ---------------------------------------------------------------------------------------------- API
@api.get("/api/warehouse/items")
def list_items(
    request: Request,
    q: str | None = None,
    sku: str | None = None,
    ean: str | None = None,
    name: str | None = None,
    inactive: bool = False,
    cursor: str | None = None,
    limit: int = Query(PAGE, ge=1, le=MAX_LIMIT),
) -> dict[str, Any]:
    """The catalogue by id. ``q`` is what a search box sends (a valid EAN matches by EAN, anything else by
    SKU prefix or name); ``sku`` (prefix), ``ean`` (exact, any GTIN spelling) and ``name`` (contains) combine."""
    return catalog_page(
        _app(request),
        q=q,
        sku=sku,
        ean=ean,
        name=name,
        include_inactive=inactive,
        cursor=cursor,
        limit=limit,
    )


@api.get("/api/warehouse/items/{item_id}")
def get_item(request: Request, item_id: int) -> dict[str, Any]:
    """One item with stock per warehouse, effective availability and supplier offers with their links."""
    return item_detail(_app(request), item_id)


@api.get("/api/warehouse/warehouses")
def list_warehouses(
    request: Request, cursor: str | None = None, limit: int = Query(MAX_LIMIT, ge=1, le=MAX_LIMIT)
) -> dict[str, Any]:
    """Warehouses by id."""
    return warehouses_page(_app(request), cursor=cursor, limit=limit)


@api.get("/api/warehouse/stock")
def list_stock(
    request: Request,
    item: str | None = None,
    warehouse: str | None = None,
    cursor: str | None = None,
    limit: int = Query(PAGE, ge=1, le=MAX_LIMIT),
) -> dict[str, Any]:
    """Stock per (item, warehouse): on hand, reserved, available. Rows exist once an item's stock moved."""
    return stock_page(_app(request), item=item, warehouse_ref=warehouse, cursor=cursor, limit=limit)


@api.get("/api/warehouse/documents")
def list_documents(
    request: Request,
    type: str | None = None,
    status: str | None = None,
    warehouse: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    cursor: str | None = None,
    limit: int = Query(PAGE, ge=1, le=MAX_LIMIT),
) -> dict[str, Any]:
    """Documents, newest first, filtered by type (PZ, WZ, MM, IN, ST), status (draft, posted), warehouse and days."""
    return documents_page(
        _app(request),
        doc_type=type,
        status=status,
        warehouse_ref=warehouse,
        date_from=date_from,
        date_to=date_to,
        cursor=cursor,
        limit=limit,
    )


@api.get("/api/warehouse/documents/{document_id}")
def get_document(request: Request, document_id: int) -> dict[str, Any]:
    """One document with its lines and ledger effect."""
    return document_detail(_app(request), document_id)


@api.post("/api/warehouse/documents", status_code=201)
def create_document(request: Request, body: DocumentBody) -> Response:
    """Create a draft; with ``"post": true`` post it in the same transaction (a refused posting then leaves
    no draft either). A line naming an unknown SKU, or an unknown warehouse, is 422: the request is wrong,
    not the address."""
    app = _app(request)
    try:
        doc = warehouse.create_document(
            app,
            body.type.strip().upper(),
            _ref(body.warehouse) or "",
            _lines(body),
            target_warehouse=_ref(body.target_warehouse),
            reference=_text(body.reference),
            note=_text(body.note),
            post=body.post,
        )
    except ItemNotFoundError as exc:
        return error_response(422, "unknown_item", str(exc), "lines")
    except WarehouseNotFoundError as exc:
        return error_response(422, "unknown_warehouse", str(exc), "warehouse")
    return JSONResponse(document_detail(app, doc.id), status_code=201)


@api.post("/api/warehouse/documents/{document_id}/post")
def post_document(request: Request, document_id: int) -> dict[str, Any]:
    """Post a draft: ledger, totals and number in one transaction. 409 when it is posted already; 422 with
    ``shortages`` when an issue or transfer would take stock below zero (nothing is written)."""
    app = _app(request)
    warehouse.post_document(app, document_id)
    return document_detail(app, document_id)


@api.post("/api/warehouse/documents/{document_id}/storno", status_code=201)
def storno_document(request: Request, document_id: int, body: StornoBody | None = None) -> Response:
    """Storno a posted document; 201 with the storno (``ST``). 409 for a draft, a storno, or a second storno."""
    app = _app(request)
    storno = warehouse.storno_document(app, document_id, note=_text(body.note) if body else None)
    return JSONResponse(document_detail(app, storno.id), status_code=201)


@api.post("/api/warehouse/documents/{document_id}/delete")
def delete_document(request: Request, document_id: int) -> dict[str, Any]:
    """Delete a draft; 409 for a posted document (storno it instead)."""
    warehouse.delete_document(_app(request), document_id)
    return {"id": document_id, "deleted": True}


# ---------------------------------------------------------------------------------------------- pages
def _url(base: str, path: str, **params: Any) -> str:
    query = urlencode({k: v for k, v in params.items() if v not in (None, "", False)})
    return f"{base}{path}" + (f"?{query}" if query else "")


def render(request: Request, template: str, *, active: str, title: str, **context: Any) -> HTMLResponse:
    """A warehouse page in the dashboard's layout, with what every one of them needs."""
    return render_page(request, template, None, active=active, title=title, **context)


@pages.get("/catalog", response_class=HTMLResponse)
def catalog_list_page(request: Request, q: str | None = None, cursor: str | None = None) -> Response:
    """The catalogue: search by SKU prefix, EAN or name, a page at a time."""
    app = _app(request)
    problem, status = None, 200
    try:
        page = catalog_page(app, q=q, cursor=cursor)
    except (InvalidCursorError, InvalidItemError) as exc:
        problem, status, q, cursor = str(exc), 400, None, None
        page = catalog_page(app)
    base = _base(request)
    return render(
        request,
        "commerce/catalog.html",
        active="catalog",
        title="Catalogue",
        status_code=status,
        rows=page["items"],
        q=q or "",
        problem=problem,
        is_first=not cursor,
        next_url=_url(base, "/catalog", q=q, cursor=page["next_cursor"]) if page["next_cursor"] else None,
        first_url=_url(base, "/catalog", q=q),
    )


@pages.get("/catalog/{item_id}", response_class=HTMLResponse)
def item_page(request: Request, item_id: int) -> Response:
    """One item: its fields, stock per warehouse, what can be promised, and the supplier offers linked to it."""
    try:
        item = item_detail(_app(request), item_id)
    except ItemNotFoundError:
        return not_found_page(request, f"There is no catalogue item #{item_id}.")
    return render(request, "commerce/item.html", active="catalog", title=item["sku"], item=item)


@pages.get("/stock", response_class=HTMLResponse)
def stock_list_page(request: Request, warehouse: str | None = None, cursor: str | None = None) -> Response:
    """Stock per item and warehouse, optionally of one warehouse."""
    app = _app(request)
    problem, status = None, 200
    try:
        page = stock_page(app, warehouse_ref=warehouse, cursor=cursor)
    except (InvalidCursorError, WarehouseNotFoundError) as exc:
        problem, status, warehouse, cursor = str(exc), 400, None, None
        page = stock_page(app)
    base = _base(request)
    return render(
        request,
        "commerce/stock.html",
        active="catalog",
        title="Stock",
        status_code=status,
        rows=page["stock"],
        warehouses=warehouses_page(app)["warehouses"],
        warehouse=warehouse or "",
        problem=problem,
        is_first=not cursor,
        next_url=_url(base, "/stock", warehouse=warehouse, cursor=page["next_cursor"]) if page["next_cursor"] else None,
        first_url=_url(base, "/stock", warehouse=warehouse),
    )


@pages.get("/documents", response_class=HTMLResponse)
def documents_list_page(
    request: Request,
    type: str | None = None,
    status: str | None = None,
    warehouse: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    cursor: str | None = None,
) -> Response:
    """Documents with filters (type, status, warehouse, days) and the form that creates a draft."""
    app = _app(request)
    filters = {"type": type, "status": status, "warehouse": warehouse, "date_from": date_from, "date_to": date_to}
    problem, code = None, 200
    try:
        page = documents_page(
            app,
            doc_type=type,
            status=status,
            warehouse_ref=warehouse,
            date_from=date_from,
            date_to=date_to,
            cursor=cursor,
        )
    except (InvalidCursorError, InvalidFilterError, DocumentError, WarehouseNotFoundError) as exc:
        problem, code, cursor = str(exc), 400, None
        filters = dict.fromkeys(filters)
        page = documents_page(app)
    base = _base(request)
    return render(
        request,
        "commerce/documents.html",
        active="documents",
        title="Documents",
        status_code=code,
        rows=page["documents"],
        filters={k: v or "" for k, v in filters.items()},
        types=[(t.value, DESCRIPTIONS[t]) for t in DocType],
        creatable=[(t.value, DESCRIPTIONS[t]) for t in CREATABLE],
        warehouses=warehouses_page(app)["warehouses"],
        problem=problem,
        is_first=not cursor,
        next_url=_url(base, "/documents", **filters, cursor=page["next_cursor"]) if page["next_cursor"] else None,
        first_url=_url(base, "/documents", **filters),
    )


@pages.get("/documents/{document_id}", response_class=HTMLResponse)
def document_page(request: Request, document_id: int) -> Response:
    """One document: lines, ledger effect, and Post / Delete (drafts) or Storno (posted) buttons."""
    try:
        doc = document_detail(_app(request), document_id)
    except DocumentNotFoundError:
        return not_found_page(request, f"There is no stock document #{document_id}: it may have been deleted.")
    return render(request, "commerce/document.html", active="documents", title=doc["label"], doc=doc)


def extend(app: FastAPI) -> None:
    """Add the warehouse API and pages to ``app`` (see :func:`conveyor.commerce.web.extend_warehouse`)."""
    add_error_handlers(app)
    app.include_router(api)
    app.include_router(pages)
