"""Product import (variants by diff, unique per shop) and customer import."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Engine

from conveyor.commerce.store import (
    Shop,
    delete_customer,
    delete_product,
    find_customer,
    find_order,
    find_variants,
    import_customer,
    import_customers,
    import_order,
    import_product,
    import_products,
)
from tests.commerce.store import factories
from tests.commerce.store.conftest import Writes

P1 = "0f1e2d3c-0000-11ee-9b1f-000000000001"
P2 = "0f1e2d3c-0000-11ee-9b1f-000000000002"


def test_import_creates_the_product_and_its_variants(engine: Engine, shop: Shop) -> None:
    with engine.begin() as conn:
        result = import_product(conn, shop.id, factories.product(P1))
        stored = find_variants(conn, shop.id, ["TS-M", "TS-L", "nope"])
    assert (result.outcome, result.variant_codes) == ("created", frozenset({"TS-M", "TS-L"}))
    assert set(stored) == {"TS-M", "TS-L"}
    assert (stored["TS-M"]["stock"], stored["TS-M"]["price"], stored["TS-M"]["product_id"]) == (
        Decimal("10.000"),
        Decimal("121.00"),
        result.id,
    )
    assert stored["TS-L"]["stock"] == Decimal("0.000")


def test_reimporting_the_same_product_writes_nothing(engine: Engine, shop: Shop, writes: Writes) -> None:
    with engine.begin() as conn:
        import_product(conn, shop.id, factories.product(P1))
    writes.clear()
    with engine.begin() as conn:
        assert import_product(conn, shop.id, factories.product(P1)).outcome == "unchanged"
    assert writes.log == []


def test_a_stock_change_updates_that_variant_only(engine: Engine, shop: Shop, writes: Writes) -> None:
    with engine.begin() as conn:
        import_product(conn, shop.id, factories.product(P1))
    writes.clear()
    changed = factories.product(
        P1, variants=[factories.variant("TS-M", stock="3.000"), factories.variant("TS-L", stock="0.000")]
    )
    with engine.begin() as conn:
        result = import_product(conn, shop.id, changed)
        stored = find_variants(conn, shop.id, ["TS-M"])
    assert (result.outcome, result.variant_codes) == ("updated", frozenset({"TS-M"}))
    assert writes.rows("UPDATE", "commerce_variants") == 1
    assert stored["TS-M"]["stock"] == Decimal("3.000")


def test_a_removed_variant_is_deleted_and_a_new_one_inserted(engine: Engine, shop: Shop) -> None:
    with engine.begin() as conn:
        import_product(conn, shop.id, factories.product(P1))
        result = import_product(
            conn, shop.id, factories.product(P1, variants=[factories.variant("TS-M"), factories.variant("TS-XL")])
        )
        stored = find_variants(conn, shop.id, ["TS-M", "TS-L", "TS-XL"])
    assert set(stored) == {"TS-M", "TS-XL"}
    assert result.variant_codes == {"TS-L", "TS-XL"}


def test_a_variant_code_moved_to_another_product_follows_it(engine: Engine, shop: Shop) -> None:
    with engine.begin() as conn:
        first = import_product(conn, shop.id, factories.product(P1))
        second = import_product(conn, shop.id, factories.product(P2, variants=[factories.variant("TS-L")]))
        stored = find_variants(conn, shop.id, ["TS-M", "TS-L"])
    assert second.outcome == "created"
    assert (stored["TS-M"]["product_id"], stored["TS-L"]["product_id"]) == (first.id, second.id)


def test_two_products_of_one_chunk_claiming_a_code_fail_the_second_not_the_chunk(engine: Engine, shop: Shop) -> None:
    batch = [
        factories.product(P1),
        factories.product(P2, variants=[factories.variant("TS-L")]),
        factories.product("p3", variants=[factories.variant("OTHER")]),
    ]
    with engine.begin() as conn:
        result = import_products(conn, shop.id, batch)
    assert (result.counts.created, result.counts.failed) == (2, 1)
    assert str(result.errors[0]) == f"product {P2}: variant code 'TS-L' is also listed by product {P1}"


def test_bulk_product_import_reports_malformed_records(engine: Engine, shop: Shop) -> None:
    no_variants = factories.product(P2)
    del no_variants["variants"]
    bad_stock = factories.product("p3", variants=[factories.variant("X", stock="many")])
    with engine.begin() as conn:
        result = import_products(conn, shop.id, [factories.product(P1), no_variants, bad_stock])
    assert result.counts.created == 1
    assert [str(e) for e in result.errors] == [
        f"product {P2}: missing field 'variants'",
        "product p3: field 'variants[0].stock': 'many' is not a number",
    ]


def test_deleting_a_product_deletes_its_variants(engine: Engine, shop: Shop) -> None:
    with engine.begin() as conn:
        import_product(conn, shop.id, factories.product(P1))
        assert delete_product(conn, shop.id, P1)
        assert find_variants(conn, shop.id, ["TS-M", "TS-L"]) == {}
        assert not delete_product(conn, shop.id, P1)


def test_customer_import_takes_email_and_phone_from_the_main_account(engine: Engine, shop: Shop) -> None:
    record = factories.customer(email="Jana@Example.CZ")
    with engine.begin() as conn:
        assert import_customer(conn, shop.id, record).outcome == "created"
        assert import_customer(conn, shop.id, record).outcome == "unchanged"
        customer = find_customer(conn, shop.id, record["guid"])
    assert customer is not None
    assert (customer["email"], customer["phone"], customer["customer_group"]) == (
        "jana@example.cz",
        "+420777123456",
        "Retail",
    )


def test_bulk_customer_import_counts_and_reports(engine: Engine, shop: Shop) -> None:
    with engine.begin() as conn:
        result = import_customers(
            conn, shop.id, [factories.customer("c1"), {"billingAddress": {}}, factories.customer("c2")]
        )
    assert (result.counts.created, result.counts.failed) == (2, 1)
    assert str(result.errors[0]) == "customer #2 (no code): missing field 'guid'"


def test_deleting_a_customer_keeps_their_orders_unlinked(engine: Engine, shop: Shop) -> None:
    with engine.begin() as conn:
        import_order(conn, shop.id, factories.order())
        assert delete_customer(conn, shop.id, factories.customer()["guid"])
        order = find_order(conn, shop.id, "2024000001")
    assert order is not None and order["customer_id"] is None
