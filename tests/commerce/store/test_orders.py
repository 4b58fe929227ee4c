"""Order import: upsert by diff, items reconciled by itemId, customers attached, malformed records reported."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select, text

from conveyor import Conveyor
from conveyor.commerce.store import (
    CredentialCipher,
    RecordError,
    Shop,
    create_shop,
    customer_ids_by_email,
    delete_order,
    find_customer,
    find_order,
    generate_key,
    import_customer,
    import_order,
    import_orders,
    link_customer,
    list_order_items,
    orders_without_customer,
    upgrade,
)
from conveyor.commerce.store.schema import customers, order_items, orders
from tests.commerce.store import factories
from tests.commerce.store.conftest import Writes

GUID = "5a9c6b0e-73c4-11ee-9b1f-0800200c9a66"


def _count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _items(engine: Engine, order_id: int) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return list_order_items(conn, order_id)


def test_import_creates_the_order_its_items_and_its_customer(engine: Engine, shop: Shop) -> None:
    with engine.begin() as conn:
        result = import_order(conn, shop.id, factories.order("2024000123"))
    assert result.outcome == "created"
    assert result.variant_codes == {"SKU-1"}  # shipping and payment lines hold no stock
    with engine.connect() as conn:
        order = find_order(conn, shop.id, "2024000123")
        customer = find_customer(conn, shop.id, GUID)
    assert order is not None and customer is not None
    assert order["id"] == result.id
    assert order["customer_id"] == customer["id"]
    assert (order["status_id"], order["status_name"], order["paid"]) == (-1, "Nevyřízená", False)
    assert (order["currency"], order["total_gross"], order["total_net"], order["total_vat"]) == (
        "CZK",
        Decimal("341.00"),
        Decimal("281.82"),
        Decimal("59.18"),
    )
    assert order["creation_time"] == 1709283600.0  # 2024-03-01T10:00:00+0100 = 09:00 UTC
    assert order["email"] == "jana.novakova@example.cz"
    assert json.loads(order["source"]) == factories.order("2024000123")
    items = _items(engine, result.id)
    assert [(i["item_id"], i["item_type"], i["code"], i["quantity"]) for i in items] == [
        (1001, "product", "SKU-1", Decimal("2.000")),
        (1002, "shipping", None, Decimal("1.000")),
        (1003, "billing", None, Decimal("1.000")),
    ]
    assert (items[0]["unit_price_gross"], items[0]["total_gross"], items[0]["vat_rate"]) == (
        Decimal("121.00"),
        Decimal("242.00"),
        Decimal("21.00"),
    )
    assert customer["origin"] == "order"  # minimal, from the billing data, until the customer is imported
    assert customer["full_name"] == "Jana Nováková"


def test_reimporting_the_same_order_is_unchanged_and_writes_nothing(engine: Engine, shop: Shop, writes: Writes) -> None:
    with engine.begin() as conn:
        import_order(conn, shop.id, factories.order())
    writes.clear()
    with engine.begin() as conn:
        result = import_order(conn, shop.id, factories.order())
    assert result.outcome == "unchanged"
    assert result.variant_codes == frozenset()
    assert writes.log == []


def test_the_same_order_fetched_with_other_sections_or_key_order_is_unchanged(engine: Engine, shop: Shop) -> None:
    with engine.begin() as conn:
        import_order(conn, shop.id, factories.order())
    richer = dict(reversed(list(factories.order().items())))
    richer["notes"] = {"customerRemark": None, "eshopRemark": None, "trackingNumber": None, "trackingUrl": None}
    with engine.begin() as conn:
        assert import_order(conn, shop.id, richer).outcome == "unchanged"


def test_a_changed_status_updates_only_the_order(engine: Engine, shop: Shop, writes: Writes) -> None:
    with engine.begin() as conn:
        import_order(conn, shop.id, factories.order())
    writes.clear()
    with engine.begin() as conn:
        result = import_order(conn, shop.id, factories.order(status=(2, "Vyřizuje se")))
    assert result.outcome == "updated"
    assert writes.tables() == {("UPDATE", "commerce_orders")}
    assert writes.rows("UPDATE", "commerce_orders") == 1
    assert result.variant_codes == {"SKU-1"}  # a status change (a cancel) may release stock
    with engine.connect() as conn:
        order = find_order(conn, shop.id, "2024000001")
    assert order is not None
    assert (order["status_id"], order["status_name"]) == (2, "Vyřizuje se")
    assert json.loads(order["source"])["status"] == {"id": 2, "name": "Vyřizuje se"}


def test_a_changed_item_quantity_updates_that_item_only(engine: Engine, shop: Shop, writes: Writes) -> None:
    lines = [factories.item(1, "A"), factories.item(2, "B"), factories.item(3, "C")]
    with engine.begin() as conn:
        order_id = import_order(conn, shop.id, factories.order(items=lines)).id
    before = _items(engine, order_id)
    writes.clear()
    lines[1] = factories.item(2, "B", amount="5.000")
    with engine.begin() as conn:
        import_order(conn, shop.id, factories.order(items=lines))
    assert writes.rows("UPDATE", "commerce_order_items") == 1
    assert ("INSERT", "commerce_order_items") not in writes.tables()
    assert ("DELETE", "commerce_order_items") not in writes.tables()
    after = _items(engine, order_id)
    assert after[1]["quantity"] == Decimal("5.000")
    assert after[1]["total_gross"] == Decimal("605.00")
    assert [after[0], after[2]] == [before[0], before[2]]


def test_a_removed_item_is_deleted_an_added_one_inserted_and_the_others_keep_their_rows(
    engine: Engine, shop: Shop, writes: Writes
) -> None:
    with engine.begin() as conn:
        order_id = import_order(
            conn, shop.id, factories.order(items=[factories.item(1, "A"), factories.item(2, "B")])
        ).id
    kept = _items(engine, order_id)[0]
    writes.clear()
    with engine.begin() as conn:
        result = import_order(conn, shop.id, factories.order(items=[factories.item(1, "A"), factories.item(7, "N")]))
    assert writes.rows("DELETE", "commerce_order_items") == 1
    assert writes.rows("INSERT", "commerce_order_items") == 1
    assert ("UPDATE", "commerce_order_items") not in writes.tables()
    assert [(i["item_id"], i["code"]) for i in _items(engine, order_id)] == [(1, "A"), (7, "N")]
    assert _items(engine, order_id)[0] == kept
    assert result.variant_codes == {"A", "B", "N"}  # B's stock claim is released


item_lists = st.lists(
    st.builds(
        factories.item,
        st.integers(1, 12),
        st.sampled_from(["A", "B", "C", None]),
        amount=st.sampled_from(["1.000", "2.000", "0.500"]),
        unit_price=st.sampled_from(["10.00", "121.00", "0.00"]),
        item_type=st.sampled_from(["product", "shipping", "discount-coupon"]),
    ),
    max_size=6,
    unique_by=lambda i: i["itemId"],
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(old=item_lists, new=item_lists)
def test_reconciled_items_always_equal_the_new_list(engine: Engine, shop: Shop, old: Any, new: Any) -> None:
    with engine.begin() as conn:
        delete_order(conn, shop.id, "P1")
        import_order(conn, shop.id, factories.order("P1", items=old))
        order_id = import_order(conn, shop.id, factories.order("P1", items=new)).id
    stored = _items(engine, order_id)
    assert [(i["item_id"], i["code"], i["item_type"], i["quantity"], i["total_gross"]) for i in stored] == [
        (
            n["itemId"],
            n["code"],
            n["itemType"],
            Decimal(n["amount"]),
            Decimal(n["itemPrice"]["withVat"]),
        )
        for n in new
    ]


def test_an_order_naming_a_known_customer_is_attached_to_it(engine: Engine, shop: Shop) -> None:
    with engine.begin() as conn:
        customer_id = import_customer(conn, shop.id, factories.customer()).id
        order_id = import_order(conn, shop.id, factories.order()).id
        order = find_order(conn, shop.id, "2024000001")
    assert order is not None and order["id"] == order_id
    assert order["customer_id"] == customer_id
    assert _count(engine, customers) == 1


def test_a_guest_order_has_no_customer_until_the_backfill_links_it(engine: Engine, shop: Shop) -> None:
    with engine.begin() as conn:
        member = import_customer(conn, shop.id, factories.customer(email="guest@example.cz")).id
        import_order(conn, shop.id, factories.order("G1", customer_guid=None, email="Guest@Example.cz"))
        import_order(conn, shop.id, factories.order("M1"))
        import_order(conn, shop.id, factories.order("G2", customer_guid=None, email="other@example.cz"))
    with engine.begin() as conn:
        first = orders_without_customer(conn, shop.id, limit=1)
        assert [(o.code, o.email) for o in first] == [("G1", "guest@example.cz")]
        rest = orders_without_customer(conn, shop.id, after_id=first[-1].id)
        assert [o.code for o in rest] == ["G2"]
        ids = customer_ids_by_email(conn, shop.id, [o.email for o in first + rest if o.email])
        assert ids == {"guest@example.cz": member}
        assert link_customer(conn, first[0].id, member)
        assert not link_customer(conn, first[0].id, member)  # already linked: a stale page changes nothing
        assert [o.code for o in orders_without_customer(conn, shop.id)] == ["G2"]
    with engine.begin() as conn:  # a later re-import with a change keeps the link
        import_order(conn, shop.id, factories.order("G1", customer_guid=None, status=(3, "Vyřízena")))
        order = find_order(conn, shop.id, "G1")
    assert order is not None and order["customer_id"] == member


def test_importing_the_customer_completes_the_minimal_one_an_order_made(engine: Engine, shop: Shop) -> None:
    with engine.begin() as conn:
        import_order(conn, shop.id, factories.order(full_name="J. Nováková"))
        result = import_customer(conn, shop.id, factories.customer(group="VIP"))
        customer = find_customer(conn, shop.id, GUID)
        order = find_order(conn, shop.id, "2024000001")
    assert result.outcome == "updated"
    assert customer is not None and order is not None
    assert (customer["origin"], customer["customer_group"], customer["full_name"]) == (
        "customer",
        "VIP",
        "Jana Nováková",
    )
    assert order["customer_id"] == customer["id"] == result.id


def test_bulk_import_reports_malformed_records_with_code_and_reason_and_imports_the_rest(
    engine: Engine, shop: Shop
) -> None:
    no_items = factories.order("2024000123")
    del no_items["items"]
    bad_money = factories.order("2024000124")
    bad_money["price"]["withVat"] = "12,30"
    no_code = factories.order()
    del no_code["code"]
    batch = [factories.order("OK1"), no_items, bad_money, no_code, factories.order("OK2"), "not an order"]
    with engine.begin() as conn:
        result = import_orders(conn, shop.id, batch)  # type: ignore[arg-type]
    assert (result.counts.read, result.counts.created, result.counts.failed) == (6, 2, 4)
    assert [str(e) for e in result.errors] == [
        "order 2024000123: missing field 'items'",
        "order 2024000124: field 'price.withVat': '12,30' is not a number",
        "order #4 (no code): missing field 'code'",
        "order #6 (no code): not a JSON object",
    ]
    assert [(e.code, e.reason) for e in result.errors][:2] == [
        ("2024000123", "missing field 'items'"),
        ("2024000124", "field 'price.withVat': '12,30' is not a number"),
    ]
    with engine.connect() as conn:
        assert sorted(c for (c,) in conn.execute(select(orders.c.code))) == ["OK1", "OK2"]


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda o: o["items"][0].pop("itemId"), "missing field 'items[0].itemId'"),
        (lambda o: o["items"][1].update(itemId=1001), "items[1]: itemId 1001 appears twice"),
        (lambda o: o["items"][0].update(amount="1.0005"), "'items[0].amount': '1.0005' has more than 3 decimal places"),
        (lambda o: o["price"].update(withVat="1e20"), "'price.withVat': '1e20' is too large for 14 digits"),
        (lambda o: o.update(creationTime="2024-03-01 10:00"), "'creationTime': '2024-03-01 10:00' has no UTC offset"),
        (lambda o: o.update(changeTime="yesterday"), "'changeTime': 'yesterday' is not a date and time"),
        (lambda o: o["price"].update(currencyCode="Kč"), "'price.currencyCode': 'Kč' is not a 3-letter currency"),
        (lambda o: o.update(code="X" * 65), "field 'code' is longer than 64 characters"),
        (lambda o: o.update(paid="yes"), "field 'paid' is not true, false or null"),
        (lambda o: o["price"].update(withVat=121.5), "'price.withVat': expected a decimal string such as '21.00', got"),
    ],
)
def test_malformed_fields_are_named_in_the_error(engine: Engine, shop: Shop, mutate: Any, reason: str) -> None:
    record = factories.order()
    mutate(record)
    with engine.begin() as conn, pytest.raises(RecordError, match=reason.replace("[", r"\[").replace(".", r"\.")):
        import_order(conn, shop.id, record)
    assert _count(engine, orders) == 0


def test_bulk_import_counts_new_changed_and_unchanged_orders_across_chunks(engine: Engine, shop: Shop) -> None:
    with engine.begin() as conn:
        first = import_orders(conn, shop.id, (factories.order(f"B{n}") for n in range(120)), chunk_size=50)
    assert (first.counts.created, first.customers_created) == (120, 1)
    again = [
        factories.order(f"B{n}", status=(2, "Vyřizuje se") if n % 3 == 0 else (-1, "Nevyřízená")) for n in range(130)
    ]
    with engine.begin() as conn:
        second = import_orders(conn, shop.id, again, chunk_size=50)
    assert (second.counts.read, second.counts.created, second.counts.updated, second.counts.unchanged) == (
        130,
        10,
        40,
        80,
    )
    assert second.variant_codes == {"SKU-1"}
    assert _count(engine, orders) == 130
    assert _count(engine, order_items) == 390


def test_an_order_repeated_in_one_input_is_applied_in_order(engine: Engine, shop: Shop) -> None:
    batch = [factories.order("R1"), factories.order("R1", status=(2, "Vyřizuje se")), factories.order("R1")]
    with engine.begin() as conn:
        result = import_orders(conn, shop.id, batch)
        order = find_order(conn, shop.id, "R1")
    assert (result.counts.created, result.counts.updated) == (1, 2)
    assert order is not None and order["status_id"] == -1


def test_orders_of_two_shops_with_the_same_code_are_separate(
    engine: Engine, shop: Shop, cipher: CredentialCipher
) -> None:
    with engine.begin() as conn:
        other = create_shop(conn, cipher, platform="shoptet", name="other", base_url="https://o", credentials={})
        a = import_order(conn, shop.id, factories.order())
        b = import_order(conn, other.id, factories.order())
    assert a.outcome == b.outcome == "created"
    assert a.id != b.id
    assert _count(engine, customers) == 2  # customers are per shop, too


def test_deleting_an_order_deletes_its_items(engine: Engine, shop: Shop) -> None:
    with engine.begin() as conn:
        import_order(conn, shop.id, factories.order())
        assert delete_order(conn, shop.id, "2024000001")
        assert not delete_order(conn, shop.id, "2024000001")
    assert _count(engine, orders) == _count(engine, order_items) == 0


def test_a_first_bulk_import_leaves_postgres_statistics_so_lookups_use_the_unique_index(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("about PostgreSQL's planner")
    app = Conveyor(db_url)
    engine = app.driver.engine
    upgrade(engine)
    with engine.begin() as conn:
        shop = create_shop(
            conn, CredentialCipher(generate_key()), platform="shoptet", name="s", base_url="x", credentials={}
        )
        import_orders(conn, shop.id, (factories.order(f"S{n}") for n in range(1000)))
    codes = ", ".join(f"'S{n}'" for n in range(100))  # a chunk's worth, as the importer looks them up
    lookup = f"EXPLAIN SELECT id FROM commerce_orders WHERE shop_id = :shop AND code IN ({codes})"
    with engine.connect() as conn:
        plan = "\n".join(conn.execute(text(lookup), {"shop": shop.id}).scalars())
    app.close()
    # Without statistics it is a bitmap scan of a shop_id index that filters every order of the shop.
    assert "ux_commerce_orders_code" in plan
