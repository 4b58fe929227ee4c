"""Discount lines (``discount-coupon``, ``volume-discount``): negative prices stored exactly, no stock touched.

Shoptet lists a discount as an order line of its own, without a code, with a negative ``itemPrice`` and
``unitPrice`` and ``amount`` 1 (research notes §1.6); the order's totals already include it.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Engine

from conveyor.commerce.shoptet.simulator.data import ShopData
from conveyor.commerce.store import Shop, find_order, import_order, list_order_items
from tests.commerce.store import factories


def _discounted(coupon: str = "-100.00") -> dict[str, object]:
    return factories.order(
        "2024000777",
        items=[
            factories.item(1, "SKU-1", amount="2.000", unit_price="500.00"),
            factories.item(2, None, item_type="discount-coupon", unit_price=coupon, name="Slevový kupón JARO10"),
            factories.item(3, None, item_type="volume-discount", unit_price="-45.00", name="Množstevní sleva 5 %"),
            factories.item(4, None, item_type="shipping", unit_price="99.00", name="PPL"),
        ],
    )


def test_discount_lines_are_stored_with_their_negative_prices(engine: Engine, shop: Shop) -> None:
    with engine.begin() as conn:
        result = import_order(conn, shop.id, _discounted())
        order = find_order(conn, shop.id, "2024000777")
        items = {i["item_type"]: i for i in list_order_items(conn, result.id)}

    assert order is not None
    coupon, volume = items["discount-coupon"], items["volume-discount"]
    assert (coupon["code"], coupon["quantity"], coupon["name"]) == (None, Decimal("1.000"), "Slevový kupón JARO10")
    assert (coupon["unit_price_gross"], coupon["total_gross"]) == (Decimal("-100.00"), Decimal("-100.00"))
    assert coupon["total_net"] == Decimal("-82.64") and coupon["total_vat"] == Decimal("-17.36")
    assert volume["total_gross"] == Decimal("-45.00")
    assert order["total_gross"] == Decimal("954.00") == sum(i["total_gross"] for i in items.values())
    assert result.variant_codes == {"SKU-1"}, "discounts hold no stock"


def test_a_changed_discount_updates_only_its_line(engine: Engine, shop: Shop) -> None:
    with engine.begin() as conn:
        first = import_order(conn, shop.id, _discounted("-100.00"))
        again = import_order(conn, shop.id, _discounted("-100.00"))
        changed = import_order(conn, shop.id, _discounted("-150.00"))
        items = {i["item_type"]: i for i in list_order_items(conn, first.id)}

    assert (first.outcome, again.outcome, changed.outcome) == ("created", "unchanged", "updated")
    assert items["discount-coupon"]["total_gross"] == Decimal("-150.00")
    assert items["volume-discount"]["total_gross"] == Decimal("-45.00")
    assert len(items) == 4


def test_a_simulated_order_with_a_coupon_imports_line_for_line(engine: Engine, shop: Shop) -> None:
    data = ShopData(seed=3, orders=240, products=60, customers=90, now=1_760_000_000.0)
    detail = next(
        d
        for d in (data.order_detail(i) for i in range(data.n_orders))
        if any(i["itemType"] == "discount-coupon" for i in d["items"])
    )

    with engine.begin() as conn:
        result = import_order(conn, shop.id, detail)
        stored = list_order_items(conn, result.id)
        order = find_order(conn, shop.id, detail["code"])

    assert order is not None
    assert [(i["item_type"], i["total_gross"]) for i in stored] == [
        (i["itemType"], Decimal(i["itemPrice"]["withVat"])) for i in detail["items"]
    ]
    assert order["total_gross"] == Decimal(detail["price"]["withVat"]) == sum(i["total_gross"] for i in stored)
