"""Read-only lists of the imported data: orders, customers and products, with search and keyset pages.

What an operator uses to check a sync with their eyes (the dashboard's Orders, Customers and Products pages
and ``GET /api/commerce/…``), and the layer later order features build their lists on. Every function takes
a ``Connection`` and only reads; callers open it with ``app.read_transaction()`` (read-only on PostgreSQL).

Lists are newest first by the platform's creation time, then by id (records without a creation time, such
as customers made from a guest order's billing data, come last). Pages are keyset-paginated: a page ends
with ``next_cursor``, an opaque token of the last row's (creation time, id), and the next page starts
strictly after it, so a page costs the same however deep it is and rows imported meanwhile never shift it.

Search (``q``) is a case-insensitive substring match, on:

* orders: the order code, the customer's name, e-mail and company;
* customers: name, e-mail, phone and company;
* products: the product name, and the code or EAN of any of its variants.

Bad input raises :class:`InvalidCursorError` (a cursor this module did not hand out) or
:class:`InvalidSearchError` (a NUL character, which PostgreSQL cannot store in text, or a search longer
than :data:`MAX_SEARCH`); an unknown shop raises ``ShopNotFoundError`` from the shop lookup.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, Table, and_, exists, func, or_, select

from conveyor import ConveyorError
from conveyor.commerce.store.schema import customers, order_items, orders, products, shops, variants
from conveyor.commerce.store.shops import get_shop

__all__ = [
    "MAX_LIMIT",
    "MAX_SEARCH",
    "InvalidCursorError",
    "InvalidLimitError",
    "InvalidQueryError",
    "InvalidSearchError",
    "OrderNotFoundError",
    "Page",
    "list_customers",
    "list_orders",
    "list_products",
    "order_detail",
]

#: Most rows one page returns, and longest search text accepted.
MAX_LIMIT = 500
MAX_SEARCH = 200


class InvalidQueryError(ConveyorError):
    """A list was asked for with a parameter it cannot use; ``field`` names the parameter."""

    field = "q"


class InvalidCursorError(InvalidQueryError):
    """A cursor that this module did not hand out (stale, truncated or edited)."""

    field = "cursor"

    def __init__(self, cursor: str) -> None:
        super().__init__(f"invalid cursor {cursor[:40]!r}: pass back the next_cursor of a previous page")


class InvalidSearchError(InvalidQueryError):
    """A search text that cannot be searched for."""

    field = "q"


class InvalidLimitError(InvalidQueryError):
    """A page size outside 1 to :data:`MAX_LIMIT`."""

    field = "limit"


class OrderNotFoundError(ConveyorError):
    """No stored order has this id."""

    def __init__(self, order_id: int) -> None:
        super().__init__(f"there is no order #{order_id}")
        self.order_id = order_id


@dataclass(frozen=True)
class Page:
    """One page of a list: its rows (JSON-ready dicts) and the cursor of the next page (None on the last)."""

    rows: list[dict[str, Any]]
    next_cursor: str | None

    def as_json(self, key: str) -> dict[str, Any]:
        return {key: self.rows, "next_cursor": self.next_cursor}


# ---------------------------------------------------------------------------------------------- cursors
def _encode(time: float | None, row_id: int) -> str:
    raw = json.dumps({"t": time, "id": row_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str | None) -> tuple[float | None, int] | None:
    if not cursor:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidCursorError(cursor) from None
    if not isinstance(value, dict) or set(value) != {"t", "id"}:
        raise InvalidCursorError(cursor)
    time, row_id = value["t"], value["id"]
    if isinstance(row_id, bool) or not isinstance(row_id, int):
        raise InvalidCursorError(cursor)
    if time is not None and (isinstance(time, bool) or not isinstance(time, int | float) or not math.isfinite(time)):
        raise InvalidCursorError(cursor)
    return (None if time is None else float(time)), row_id


def _search(q: str | None) -> str | None:
    if q is None:
        return None
    if "\x00" in q:
        raise InvalidSearchError("the search text contains a NUL character (\\x00), which cannot be searched for")
    q = q.strip()
    if len(q) > MAX_SEARCH:
        raise InvalidSearchError(f"the search text is {len(q)} characters long; at most {MAX_SEARCH} are searched")
    return q.lower() or None


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidLimitError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    return limit


def _like(column: Any, q: str) -> ColumnElement[bool]:
    # lower() folds ASCII on SQLite and every letter on PostgreSQL; autoescape makes % and _ literal.
    result: ColumnElement[bool] = func.lower(column).contains(q, autoescape=True)
    return result


def _page(
    conn: Connection,
    table: Table,
    query: Select[Any],
    *,
    shop_id: int | None,
    cursor: str | None,
    limit: int,
    view: Any,
) -> Page:
    """Filter ``query`` by shop and cursor, order newest first, fetch one row more than ``limit`` to know
    whether another page follows. NULL creation times sort last on both databases (``nulls_last``)."""
    limit = _limit(limit)
    after = _decode(cursor)
    if shop_id is not None:
        get_shop(conn, shop_id)  # ShopNotFoundError for an unknown shop, rather than an empty list
        query = query.where(table.c.shop_id == shop_id)
    created, row_id = table.c.creation_time, table.c.id
    if after is not None:
        time, last_id = after
        if time is None:
            query = query.where(created.is_(None), row_id < last_id)
        else:
            query = query.where(
                or_(created < time, and_(created == time, row_id < last_id), created.is_(None)),
            )
    rows = conn.execute(query.order_by(created.desc().nulls_last(), row_id.desc()).limit(limit + 1)).mappings().all()
    page = rows[:limit]
    next_cursor = _encode(page[-1]["creation_time"], page[-1]["id"]) if len(rows) > limit else None
    return Page([view(r) for r in page], next_cursor)


def _plain(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A row as JSON-ready values: Decimals as their exact strings (money must not turn into floats)."""
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in row.items()}


# ---------------------------------------------------------------------------------------------- orders
_ORDER_COLUMNS = (
    orders.c.id,
    orders.c.shop_id,
    shops.c.name.label("shop_name"),
    orders.c.code,
    orders.c.status_id,
    orders.c.status_name,
    orders.c.paid,
    orders.c.currency,
    orders.c.total_gross,
    orders.c.total_net,
    orders.c.customer_id,
    orders.c.customer_guid,
    orders.c.email,
    orders.c.full_name,
    orders.c.company,
    orders.c.country_code,
    orders.c.payment_method,
    orders.c.shipping_method,
    orders.c.creation_time,
    orders.c.change_time,
    orders.c.updated_at,
)


def list_orders(
    conn: Connection, *, shop_id: int | None = None, q: str | None = None, cursor: str | None = None, limit: int = 50
) -> Page:
    """Orders, newest first, optionally of one shop and matching ``q`` (code, name, e-mail, company)."""
    text = _search(q)
    query = select(*_ORDER_COLUMNS).join(shops, shops.c.id == orders.c.shop_id)
    if text is not None:
        query = query.where(
            or_(
                _like(orders.c.code, text),
                _like(orders.c.email, text),
                _like(orders.c.full_name, text),
                _like(orders.c.company, text),
            )
        )
    return _page(conn, orders, query, shop_id=shop_id, cursor=cursor, limit=limit, view=_plain)


_ITEM_COLUMNS = (
    order_items.c.item_id,
    order_items.c.position,
    order_items.c.item_type,
    order_items.c.code,
    order_items.c.ean,
    order_items.c.name,
    order_items.c.variant_name,
    order_items.c.quantity,
    order_items.c.unit,
    order_items.c.unit_price_gross,
    order_items.c.total_net,
    order_items.c.total_gross,
    order_items.c.total_vat,
    order_items.c.vat_rate,
)


def order_detail(conn: Connection, order_id: int) -> dict[str, Any]:
    """One order with its items in the platform's order; :class:`OrderNotFoundError` if there is none."""
    row = (
        conn.execute(
            select(*_ORDER_COLUMNS, orders.c.phone, orders.c.guid, orders.c.total_vat, orders.c.exchange_rate)
            .join(shops, shops.c.id == orders.c.shop_id)
            .where(orders.c.id == order_id)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise OrderNotFoundError(order_id)
    items = conn.execute(
        select(*_ITEM_COLUMNS).where(order_items.c.order_id == order_id).order_by(order_items.c.position)
    ).mappings()
    return {**_plain(row), "items": [_plain(i) for i in items]}


# ---------------------------------------------------------------------------------------------- customers
def list_customers(
    conn: Connection, *, shop_id: int | None = None, q: str | None = None, cursor: str | None = None, limit: int = 50
) -> Page:
    """Customers, newest first, optionally of one shop and matching ``q`` (name, e-mail, phone, company),
    each with how many of its orders are stored."""
    text = _search(q)
    order_count = (
        select(func.count()).select_from(orders).where(orders.c.customer_id == customers.c.id).scalar_subquery()
    )
    query = select(
        customers.c.id,
        customers.c.shop_id,
        shops.c.name.label("shop_name"),
        customers.c.guid,
        customers.c.origin,
        customers.c.email,
        customers.c.phone,
        customers.c.full_name,
        customers.c.company,
        customers.c.customer_group,
        customers.c.creation_time,
        customers.c.change_time,
        order_count.label("orders"),
    ).join(shops, shops.c.id == customers.c.shop_id)
    if text is not None:
        query = query.where(
            or_(
                _like(customers.c.full_name, text),
                _like(customers.c.email, text),
                _like(customers.c.phone, text),
                _like(customers.c.company, text),
            )
        )
    return _page(conn, customers, query, shop_id=shop_id, cursor=cursor, limit=limit, view=_plain)


# ---------------------------------------------------------------------------------------------- products
def list_products(
    conn: Connection, *, shop_id: int | None = None, q: str | None = None, cursor: str | None = None, limit: int = 50
) -> Page:
    """Products, newest first, optionally of one shop and matching ``q`` (name, or a variant's code or EAN),
    each with its variants (code, EAN, stock, price)."""
    text = _search(q)
    query = select(
        products.c.id,
        products.c.shop_id,
        shops.c.name.label("shop_name"),
        products.c.guid,
        products.c.name,
        products.c.type,
        products.c.visibility,
        products.c.brand,
        products.c.url,
        products.c.creation_time,
        products.c.change_time,
    ).join(shops, shops.c.id == products.c.shop_id)
    if text is not None:
        variant_match = exists().where(
            variants.c.product_id == products.c.id, or_(_like(variants.c.code, text), _like(variants.c.ean, text))
        )
        query = query.where(or_(_like(products.c.name, text), variant_match))
    page = _page(conn, products, query, shop_id=shop_id, cursor=cursor, limit=limit, view=_plain)
    _attach_variants(conn, page.rows)
    return page


def _attach_variants(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Each product's variants, in one query for the whole page."""
    by_id: dict[int, list[dict[str, Any]]] = {r["id"]: [] for r in rows}
    if not by_id:
        return
    found = conn.execute(
        select(
            variants.c.product_id,
            variants.c.code,
            variants.c.ean,
            variants.c.name,
            variants.c.stock,
            variants.c.unit,
            variants.c.price,
            variants.c.currency,
            variants.c.visible,
        )
        .where(variants.c.product_id.in_(list(by_id)))
        .order_by(variants.c.product_id, variants.c.code)
    ).mappings()
    for v in found:
        by_id[v["product_id"]].append({k: val for k, val in _plain(v).items() if k != "product_id"})
    for r in rows:
        r["variants"] = by_id[r["id"]]
