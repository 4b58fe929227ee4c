"""Effective availability: what can be promised for an item, from own stock or from the best supplier.

The one function the shop stock pushes and the orders module use (:func:`effective_availability`). Rules:

1. **Own stock first.** ``own`` = the sum over warehouses (all, or the ones given) of ``on_hand − reserved``.
   A warehouse allowed below zero counts with its negative figure: goods owed there are owed from the rest.
   When ``own > 0``: quantity = ``own``, delivery days = 0, source = ``"own"``.
2. **Otherwise the best supplier offer** among the supplier items linked to the item
   (``commerce_item_links`` → ``commerce_supplier_items``), ranked by:
   in stock first (the feed's in-stock flag; when the feed had none, a stock quantity above zero), then
   fewest delivery days (unknown last), then lowest purchase price (unknown last), then lowest supplier id
   (so the answer never depends on row order). Quantity = the supplier's stock quantity (None when the feed
   does not say, e.g. "skladem" without a number), delivery days = the supplier's, source = the supplier's
   code. An offer that is not in stock is still the answer when there is nothing better ("na dotaz").
3. **Nothing at all**: quantity 0, delivery days None, source ``"none"``.

Set-based: two queries per 1,000 items (own stock grouped, offers ranked with ``ROW_NUMBER()``), so a sync
of 17,800 items costs 36 queries, not 35,600.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, case, func, select

from conveyor.commerce.store._sql import one_of
from conveyor.commerce.store.schema import item_links, stock_levels, supplier_items, suppliers

OWN = "own"
NONE = "none"
_CHUNK = 1000


@dataclass(frozen=True)
class Offer:
    """The best linked supplier item for a catalogue item."""

    supplier_id: int
    supplier_code: str
    supplier_item_id: int
    in_stock: bool
    quantity: Decimal | None
    delivery_days: int | None
    purchase_price: Decimal | None


@dataclass(frozen=True)
class Availability:
    """What can be promised for one item (see the module docstring for the rules).

    ``quantity``: own available stock when above zero, else the best offer's quantity (None: the supplier
    does not say how many), else 0. ``delivery_days``: 0 from own stock, the offer's days otherwise (None
    when unknown or when there is no offer). ``source``: ``"own"``, the supplier's code, or ``"none"``."""

    item_id: int
    quantity: Decimal | None
    delivery_days: int | None
    source: str
    own_available: Decimal
    offer: Offer | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "quantity": None if self.quantity is None else str(self.quantity),
            "delivery_days": self.delivery_days,
            "source": self.source,
            "own_available": str(self.own_available),
            "offer": None
            if self.offer is None
            else {
                "supplier_id": self.offer.supplier_id,
                "supplier": self.offer.supplier_code,
                "supplier_item_id": self.offer.supplier_item_id,
                "in_stock": self.offer.in_stock,
                "quantity": None if self.offer.quantity is None else str(self.offer.quantity),
                "delivery_days": self.offer.delivery_days,
                "purchase_price": None if self.offer.purchase_price is None else str(self.offer.purchase_price),
            },
        }


def effective_availability(
    conn: Connection, item_ids: Iterable[int], *, warehouse_ids: Iterable[int] | None = None
) -> dict[int, Availability]:
    """Availability of each of ``item_ids`` (every id requested gets an entry), from own stock in
    ``warehouse_ids`` (default: every warehouse) and the best linked supplier offer. Rules: module docstring."""
    ids = sorted({int(i) for i in item_ids})
    warehouses = None if warehouse_ids is None else sorted({int(w) for w in warehouse_ids})
    result: dict[int, Availability] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        own = _own_available(conn, chunk, warehouses)
        offers = _best_offers(conn, chunk)
        for item_id in chunk:
            mine = own.get(item_id, Decimal("0.000"))
            offer = offers.get(item_id)
            if mine > 0:
                result[item_id] = Availability(item_id, mine, 0, OWN, mine, offer)
            elif offer is not None:
                result[item_id] = Availability(
                    item_id, offer.quantity, offer.delivery_days, offer.supplier_code, mine, offer
                )
            else:
                result[item_id] = Availability(item_id, Decimal("0.000"), None, NONE, mine, None)
    return result


def _own_available(conn: Connection, item_ids: list[int], warehouse_ids: list[int] | None) -> dict[int, Decimal]:
    query = (
        select(stock_levels.c.item_id, func.sum(stock_levels.c.on_hand - stock_levels.c.reserved))
        .where(one_of(stock_levels.c.item_id, item_ids))
        .group_by(stock_levels.c.item_id)
    )
    if warehouse_ids is not None:
        if not warehouse_ids:
            return {}
        query = query.where(one_of(stock_levels.c.warehouse_id, warehouse_ids))
    return {int(i): Decimal(str(total or 0)).quantize(Decimal("0.001")) for i, total in conn.execute(query)}


def _best_offers(conn: Connection, item_ids: list[int]) -> dict[int, Offer]:
    s = supplier_items
    in_stock = case(
        (s.c.in_stock.is_not(None), case((s.c.in_stock, 1), else_=0)),
        (s.c.stock_quantity > 0, 1),
        else_=0,
    )
    rank = (
        func.row_number()
        .over(
            partition_by=item_links.c.item_id,
            order_by=(
                in_stock.desc(),
                s.c.delivery_days.asc().nulls_last(),
                s.c.purchase_price.asc().nulls_last(),
                s.c.supplier_id.asc(),
                s.c.id.asc(),
            ),
        )
        .label("rank")
    )
    ranked = (
        select(
            item_links.c.item_id,
            s.c.supplier_id,
            suppliers.c.code,
            s.c.id.label("supplier_item_id"),
            in_stock.label("in_stock"),
            s.c.stock_quantity,
            s.c.delivery_days,
            s.c.purchase_price,
            rank,
        )
        .join(s, s.c.id == item_links.c.supplier_item_id)
        .join(suppliers, suppliers.c.id == s.c.supplier_id)
        .where(one_of(item_links.c.item_id, item_ids))
        .subquery()
    )
    rows = conn.execute(select(ranked).where(ranked.c.rank == 1))
    return {
        int(r.item_id): Offer(
            int(r.supplier_id),
            r.code,
            int(r.supplier_item_id),
            bool(r.in_stock),
            None if r.stock_quantity is None else Decimal(str(r.stock_quantity)).quantize(Decimal("0.001")),
            None if r.delivery_days is None else int(r.delivery_days),
            None if r.purchase_price is None else Decimal(str(r.purchase_price)).quantize(Decimal("0.01")),
        )
        for r in rows
    }
