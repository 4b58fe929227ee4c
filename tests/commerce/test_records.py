"""The imported data, read-only (issue #11, item 7): ``GET /api/commerce/orders|customers|products``, one
order with its items, and the Orders, Customers and Products pages, over the real web app.

Data is imported with the store's own importers (as a sync would), into two shops. The API runs on SQLite
and PostgreSQL (the queries are the only SQL here); pages on SQLite.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from conveyor import Conveyor
from conveyor.commerce import store
from conveyor.commerce.store import Shop, import_customer, import_order, import_product, queries
from tests.commerce.shoptet.test_pipelines import database
from tests.commerce.store import factories
from tests.commerce.test_web import client_for, installed
from tests.conftest import free_port
from tests.web.conftest import CHROMIUM, LiveServer, require_chromium


@dataclass
class Data:
    app: Conveyor
    client: TestClient
    acme: Shop
    other: Shop

    def page(self, path: str, **params: Any) -> httpx.Response:
        return self.client.get(path, params=params or None, headers={"Accept": "text/html"})


def _time(n: int) -> str:
    """Creation times one minute apart: order n is newer than order n-1."""
    return f"2024-03-01T10:{n:02d}:00+0100"


def _fill(app: Conveyor, pack_cipher: Any) -> tuple[Shop, Shop]:
    with app.driver.begin() as conn:
        acme, other = (
            store.create_shop(
                conn,
                pack_cipher,
                platform="shoptet",
                name=name,
                base_url=f"https://{name}.myshoptet.com",
                credentials={"token": "t"},
                timezone="Europe/Prague",
            )
            for name in ("acme", "other")
        )
        for n in range(1, 8):
            import_order(
                conn,
                acme.id,
                factories.order(
                    f"2024{n:06d}",
                    creation_time=_time(n),
                    email=f"buyer{n}@example.cz",
                    full_name="Petr Svoboda" if n == 3 else f"Buyer {n}",
                    customer_guid=None,
                ),
            )
        discounted = factories.order(
            "2024000100",
            creation_time=_time(30),
            customer_guid=None,
            items=[
                factories.item(1, "SKU-1", amount="2.000", unit_price="500.00"),
                factories.item(2, None, item_type="discount-coupon", unit_price="-100.00", name="Kupón JARO10"),
                factories.item(3, None, item_type="shipping", unit_price="99.00", name="PPL"),
            ],
        )
        import_order(conn, acme.id, discounted)
        import_order(conn, other.id, factories.order("9000000001", creation_time=_time(40), customer_guid=None))
        import_customer(conn, acme.id, factories.customer(email="jana@example.cz"))
        import_customer(
            conn,
            acme.id,
            factories.customer(
                "6b9c6b0e-73c4-11ee-9b1f-0800200c9a66", email="karel@example.cz", full_name="Karel Dvořák"
            ),
        )
        import_product(conn, acme.id, factories.product(variants=[factories.variant("TS-M", ean="8591234567890")]))
        import_product(
            conn,
            acme.id,
            factories.product(
                "0f1e2d3c-0000-11ee-9b1f-000000000002", name="Hrnek 50%", variants=[factories.variant("MUG-1")]
            ),
        )
    return acme, other


def _data(db_url: str, tmp_path: Path) -> Iterator[Data]:
    app, pack = installed(db_url, tmp_path)
    try:
        acme, other = _fill(app, pack.cipher)
        yield Data(app, client_for(app), acme, other)
    finally:
        pack.close()
        app.close()


@pytest.fixture(params=["sqlite", "postgres"])
def data(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Data]:
    with database(request.param, tmp_path) as url:
        yield from _data(url, tmp_path)


@pytest.fixture
def sq(tmp_path: Path) -> Iterator[Data]:
    yield from _data(f"sqlite:///{tmp_path / 'conveyor.db'}", tmp_path)


# ---------------------------------------------------------------------------------------------- API
def test_orders_are_listed_newest_first_across_shops(data: Data) -> None:
    body = data.client.get("/api/commerce/orders").json()

    codes = [o["code"] for o in body["orders"]]
    assert codes == ["9000000001", "2024000100", *[f"2024{n:06d}" for n in range(7, 0, -1)]]
    assert body["next_cursor"] is None
    assert body["orders"][0]["shop_name"] == "other"


def test_order_pages_follow_the_cursor_without_gaps_or_repeats(data: Data) -> None:
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        body = data.client.get(
            "/api/commerce/orders",
            params={"shop_id": data.acme.id, "limit": 3, **({"cursor": cursor} if cursor else {})},
        ).json()
        seen += [o["code"] for o in body["orders"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert seen == ["2024000100", *[f"2024{n:06d}" for n in range(7, 0, -1)]]


@pytest.mark.parametrize(
    "q, codes",
    [
        ("2024000005", ["2024000005"]),
        ("petr svob", ["2024000003"]),
        ("BUYER6@EXAMPLE", ["2024000006"]),
        ("nobody", []),
    ],
)
def test_orders_are_searched_by_code_name_and_email(sq: Data, q: str, codes: list[str]) -> None:
    body = sq.client.get("/api/commerce/orders", params={"q": q}).json()

    assert [o["code"] for o in body["orders"]] == codes


def test_an_order_shows_its_items_with_negative_discount_lines(data: Data) -> None:
    listed = data.client.get("/api/commerce/orders", params={"q": "2024000100"}).json()["orders"][0]

    order = data.client.get(f"/api/commerce/orders/{listed['id']}").json()

    assert order["code"] == "2024000100" and order["total_gross"] == "999.00"
    lines = [(i["item_type"], i["total_gross"]) for i in order["items"]]
    assert lines == [("product", "1000.00"), ("discount-coupon", "-100.00"), ("shipping", "99.00")]


def test_customers_are_searched_by_name_and_email_with_their_order_counts(data: Data) -> None:
    everyone = data.client.get("/api/commerce/customers", params={"shop_id": data.acme.id}).json()["customers"]
    karel = data.client.get("/api/commerce/customers", params={"q": "dvořák"}).json()["customers"]
    jana = data.client.get("/api/commerce/customers", params={"q": "jana@"}).json()["customers"]

    assert {c["email"] for c in everyone} == {"jana@example.cz", "karel@example.cz"}
    assert [c["email"] for c in karel] == ["karel@example.cz"]
    assert [c["email"] for c in jana] == ["jana@example.cz"] and jana[0]["orders"] == 0


@pytest.mark.parametrize("q, names", [("8591234567890", ["T-shirt"]), ("mug-", ["Hrnek 50%"]), ("50%", ["Hrnek 50%"])])
def test_products_are_searched_by_name_variant_code_and_ean(data: Data, q: str, names: list[str]) -> None:
    body = data.client.get("/api/commerce/products", params={"q": q}).json()

    assert [p["name"] for p in body["products"]] == names
    assert body["products"][0]["variants"][0]["code"] in ("TS-M", "MUG-1")


def test_a_shop_filter_lists_only_that_shops_records(sq: Data) -> None:
    body = sq.client.get("/api/commerce/orders", params={"shop_id": sq.other.id}).json()

    assert [o["code"] for o in body["orders"]] == ["9000000001"]


@pytest.mark.parametrize("kind", ["orders", "customers", "products"])
def test_a_cursor_this_server_did_not_hand_out_is_400(sq: Data, kind: str) -> None:
    for cursor in ("not-a-cursor", "eyJ0IjoxfQ", "e30"):
        response = sq.client.get(f"/api/commerce/{kind}", params={"cursor": cursor})

        assert response.status_code == 400, cursor
        assert response.json()["error"]["code"] == "invalid_cursor" and response.json()["error"]["field"] == "cursor"


@pytest.mark.parametrize("kind", ["orders", "customers", "products"])
def test_an_unknown_shop_is_404(sq: Data, kind: str) -> None:
    response = sq.client.get(f"/api/commerce/{kind}", params={"shop_id": 999})

    assert response.status_code == 404 and response.json()["error"]["code"] == "shop_not_found"


@pytest.mark.parametrize("kind", ["orders", "customers", "products"])
def test_a_nul_character_in_the_search_is_a_400_json_error(data: Data, kind: str) -> None:
    response = data.client.get(f"/api/commerce/{kind}", params={"q": "ab\x00c"})

    assert response.status_code == 400
    assert "NUL" in response.json()["error"]["message"]


@pytest.mark.parametrize("query", [queries.list_orders, queries.list_customers, queries.list_products])
def test_the_query_layer_refuses_a_nul_character_by_name(data: Data, query: Any) -> None:
    """Callers other than the web app (the orders module) get the same refusal, before any SQL runs."""
    with data.app.read_transaction() as conn, pytest.raises(queries.InvalidSearchError) as refused:
        query(conn, q="ab\x00c")

    assert str(refused.value) == "the search text contains a NUL character (\\x00), which cannot be searched for"
    assert refused.value.field == "q"


def test_an_unknown_order_is_404(sq: Data) -> None:
    response = sq.client.get("/api/commerce/orders/99999")

    assert response.status_code == 404 and response.json()["error"]["code"] == "order_not_found"


def test_the_lists_run_in_a_read_only_transaction_on_postgresql(data: Data) -> None:
    if data.app.driver.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no read-only transactions (a deferred one takes no write lock instead)")
    with pytest.raises(DBAPIError, match="read-only transaction"), data.app.read_transaction() as conn:
        conn.execute(text("DELETE FROM commerce_order_items"))

    with data.app.driver.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM commerce_order_items")).scalar_one() > 0


# ---------------------------------------------------------------------------------------------- pages
@pytest.mark.parametrize("path, label", [("/orders", "Orders"), ("/customers", "Customers"), ("/products", "Products")])
def test_the_data_pages_are_in_the_navigation(sq: Data, path: str, label: str) -> None:
    html = sq.page(path).text

    assert re.search(rf'<a href="{path}" aria-current="page">{label}', html)
    assert re.search(r'<a href="/shops"[^>]*>Shops', html)


def test_the_orders_page_lists_searches_and_links_each_order(sq: Data) -> None:
    html = sq.page("/orders", q="svoboda").text

    assert "2024000003" in html and "Petr Svoboda" in html and "2024000005" not in html
    assert 'value="svoboda"' in html


def test_the_orders_page_pages_with_a_next_link(sq: Data) -> None:
    for n in range(50, 100):
        with sq.app.driver.begin() as conn:
            import_order(conn, sq.acme.id, factories.order(f"2025{n:06d}", creation_time=_time(59), customer_guid=None))

    first = sq.page("/orders").text
    link = re.search(r'<a class="btn btn-sm" href="([^"]+)" rel="next">', first)
    assert link is not None
    second = sq.client.get(link.group(1).replace("&amp;", "&"), headers={"Accept": "text/html"}).text

    assert first.count("data-order=") == 50 and "2024000001" not in first
    assert "2024000001" in second and "End of list" in second


def test_the_order_page_shows_discount_lines_as_negative(sq: Data) -> None:
    order_id = sq.client.get("/api/commerce/orders", params={"q": "2024000100"}).json()["orders"][0]["id"]

    html = sq.page(f"/orders/{order_id}").text

    assert 'data-item-type="discount-coupon"' in html and "Kupón JARO10" in html
    assert '<span class="mono nowrap text-bad">-100.00 CZK</span>' in html
    assert "999.00 CZK" in html


def test_the_customers_and_products_pages_list_what_was_imported(sq: Data) -> None:
    customers_html = sq.page("/customers").text
    products_html = sq.page("/products", q="8591234567890").text

    assert "Karel Dvořák" in customers_html and "jana@example.cz" in customers_html
    assert "T-shirt" in products_html and "TS-M" in products_html and "Hrnek" not in products_html


def test_a_stale_cursor_on_a_page_says_so_and_shows_the_first_page(sq: Data) -> None:
    response = sq.page("/orders", cursor="garbage")

    assert response.status_code == 400
    assert "invalid cursor" in response.text and "showing the first page instead" in response.text
    assert "2024000001" in response.text


def test_a_nul_in_a_page_search_is_400_and_shows_everything(sq: Data) -> None:
    response = sq.page("/customers", q="a\x00b")

    assert response.status_code == 400 and "NUL" in response.text


def test_an_unknown_shop_or_order_page_is_404(sq: Data) -> None:
    assert sq.page("/orders", shop_id=999).status_code == 404
    assert sq.page("/orders/99999").status_code == 404


def test_a_page_without_data_says_how_data_arrives(tmp_path: Path) -> None:
    app, pack = installed(f"sqlite:///{tmp_path / 'empty.db'}", tmp_path)
    try:
        html = client_for(app).get("/products", headers={"Accept": "text/html"}).text
    finally:
        pack.close()
        app.close()

    assert "No products imported yet" in html and 'href="/shops"' in html


# ---------------------------------------------------------------------------------------------- in a browser
@pytest.mark.browser
def test_an_operator_searches_orders_and_opens_one_in_a_real_browser(sq: Data) -> None:
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    server = LiveServer(sq.app, free_port()).start()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM)
            try:
                page = browser.new_page()
                page.goto(f"{server.url}/orders")
                page.get_by_label("search").fill("2024000100")
                page.get_by_role("button", name="Search").click()
                expect(page.locator("tr[data-order]")).to_have_count(1)
                page.get_by_role("link", name="2024000100").click()
                expect(page.locator('tr[data-item-type="discount-coupon"]')).to_contain_text("-100.00 CZK")
            finally:
                browser.close()
    finally:
        server.stop()
