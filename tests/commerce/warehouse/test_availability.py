"""Effective availability on both databases: own stock first, else the best linked supplier offer (in stock,
then fewest delivery days, then lowest purchase price, then lowest supplier id), for many items at once."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import Connection

from conveyor import Conveyor
from conveyor.commerce.store import availability, stock
from conveyor.commerce.store.schema import feed_tasks, feeds, item_links, supplier_items, suppliers
from tests.commerce.warehouse.conftest import item, receive

D = Decimal


def _supplier(conn: Connection, code: str) -> tuple[int, int]:
    """A supplier with one feed task: (supplier id, task id)."""
    supplier_id = conn.execute(
        suppliers.insert().values(code=code, name=code.title(), created_at=0).returning(suppliers.c.id)
    ).scalar_one()
    feed_id = conn.execute(
        feeds.insert()
        .values(supplier_id=supplier_id, name=f"{code} feed", created_at=0, updated_at=0)
        .returning(feeds.c.id)
    ).scalar_one()
    task_id = conn.execute(
        feed_tasks.insert()
        .values(
            feed_id=feed_id, name="main", source="/dev/null", format="csv", mappings="{}", created_at=0, updated_at=0
        )
        .returning(feed_tasks.c.id)
    ).scalar_one()
    return int(supplier_id), int(task_id)


def _offer(
    conn: Connection,
    supplier: tuple[int, int],
    item_id: int,
    *,
    quantity: str | None,
    days: int | None,
    price: str | None,
    in_stock: bool | None = None,
) -> None:
    supplier_id, task_id = supplier
    code = f"S{supplier_id}-{item_id}"
    supplier_item_id = conn.execute(
        supplier_items.insert()
        .values(
            supplier_id=supplier_id,
            feed_task_id=task_id,
            supplier_code=code,
            content_hash="x",
            updated_at=0,
            stock_quantity=None if quantity is None else D(quantity),
            in_stock=in_stock,
            delivery_days=days,
            purchase_price=None if price is None else D(price),
            link_status="linked",
        )
        .returning(supplier_items.c.id)
    ).scalar_one()
    conn.execute(
        item_links.insert().values(
            item_id=item_id,
            supplier_item_id=supplier_item_id,
            supplier_id=supplier_id,
            supplier_code=code,
            method="sku",
            created_at=0,
        )
    )


@pytest.fixture
def world(app: Conveyor) -> Conveyor:
    with app.transaction() as conn:
        for sku in ("OWN", "SUP", "NOTHING", "NOSTOCK", "TIE"):
            item(conn, sku)
        stock.create_warehouse(conn, "MAIN")
        stock.create_warehouse(conn, "SHOP")
        receive(conn, "MAIN", ("OWN", 3))
        receive(conn, "SHOP", ("OWN", 2))
        alfa, beta, gama = _supplier(conn, "alfa"), _supplier(conn, "beta"), _supplier(conn, "gama")
        _offer(conn, alfa, 1, quantity="50", days=2, price="10")  # OWN has stock: offers are not used
        # SUP: beta is faster than alfa; gama is fastest but out of stock.
        _offer(conn, alfa, 2, quantity="20", days=5, price="8")
        _offer(conn, beta, 2, quantity="7", days=2, price="9")
        _offer(conn, gama, 2, quantity="0", days=1, price="1")
        # NOSTOCK: nobody has it; the quickest delivery wins, quantity unknown ("na dotaz").
        _offer(conn, alfa, 4, quantity=None, days=14, price="5", in_stock=False)
        _offer(conn, beta, 4, quantity=None, days=10, price="6", in_stock=False)
        # TIE: same days: lower price; same price: lower supplier id.
        _offer(conn, gama, 5, quantity="4", days=3, price="7")
        _offer(conn, beta, 5, quantity="5", days=3, price="7")
        _offer(conn, alfa, 5, quantity="6", days=3, price="7.5")
    return app


def test_own_stock_comes_first_with_zero_delivery_days(world: Conveyor) -> None:
    with world.read_transaction() as conn:
        result = availability.effective_availability(conn, [1])[1]
    assert (result.quantity, result.delivery_days, result.source) == (D(5), 0, "own")


def test_own_stock_can_be_limited_to_some_warehouses(world: Conveyor) -> None:
    with world.read_transaction() as conn:
        result = availability.effective_availability(conn, [1], warehouse_ids=[2])[1]
    assert (result.quantity, result.own_available, result.source) == (D(2), D(2), "own")


def test_without_own_stock_the_fastest_supplier_in_stock_wins(world: Conveyor) -> None:
    with world.read_transaction() as conn:
        result = availability.effective_availability(conn, [2])[2]
    assert (result.quantity, result.delivery_days, result.source) == (D(7), 2, "beta")
    assert result.offer is not None and result.offer.purchase_price == D(9)


def test_reserved_stock_does_not_count(world: Conveyor) -> None:
    with world.transaction() as conn:
        stock.reserve(conn, 1, 1, 3, "ORDER-1")
        stock.reserve(conn, 1, 2, 2, "ORDER-1")
        result = availability.effective_availability(conn, [1])[1]
    assert (result.quantity, result.delivery_days, result.source) == (D(50), 2, "alfa")


def test_when_no_supplier_has_it_the_quickest_offer_is_given_with_unknown_quantity(world: Conveyor) -> None:
    with world.read_transaction() as conn:
        result = availability.effective_availability(conn, [4])[4]
    assert (result.quantity, result.delivery_days, result.source) == (None, 10, "beta")


def test_ties_go_to_the_lower_price_then_the_lower_supplier_id(world: Conveyor) -> None:
    with world.read_transaction() as conn:
        result = availability.effective_availability(conn, [5])[5]
    assert (result.quantity, result.source) == (D(5), "beta")  # beta (id 2) before gama (id 3) at 7.00


def test_an_item_with_nothing_is_reported_as_none(world: Conveyor) -> None:
    with world.read_transaction() as conn:
        result = availability.effective_availability(conn, [3, 999])
    assert {(r.quantity, r.delivery_days, r.source) for r in result.values()} == {(D(0), None, "none")}


def test_many_items_are_answered_by_a_few_queries(world: Conveyor) -> None:
    from sqlalchemy import event

    statements: list[str] = []
    engine = world.driver.engine
    listener = lambda *a: statements.append(a[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        with world.read_transaction() as conn:
            result = availability.effective_availability(conn, range(1, 2501))
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert len(result) == 2500 and result[2].source == "beta"
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 6  # 2 per 1,000 items
