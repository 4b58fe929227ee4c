"""The warehouse's JSON API and pages (catalogue, stock, documents) over the real web app: what a user sees,
and that every refused request says why and writes nothing."""

from __future__ import annotations

import re

import pytest

from conveyor.commerce import warehouse
from conveyor.commerce.store.documents import LineInput
from tests.commerce.web.conftest import Web


def stocked(web: Web) -> None:
    """Two warehouses, three items, 10 of ABC-1 and 4 of ABC-2 received in MAIN."""
    app = web.app
    warehouse.add_warehouse(app, "MAIN", "Praha")
    warehouse.add_warehouse(app, "BRNO", "Brno")
    warehouse.add_item(app, "ABC-1", "Hrnek modrý", ean="8594001234561", purchase_price="89.90", vat_rate="21")
    warehouse.add_item(app, "ABC-2", "Talíř žlutý")
    warehouse.add_item(app, "XYZ-9", "Miska")
    warehouse.create_document(app, "PZ", "MAIN", [LineInput("ABC-1", 10), LineInput("ABC-2", 4)], post=True)


# ---------------------------------------------------------------------------------------------- catalogue
def test_the_catalogue_is_searched_by_sku_ean_or_name_and_paged_by_cursor(any_web: Web) -> None:
    stocked(any_web)

    first = any_web.client.get("/api/warehouse/items", params={"limit": 2}).json()
    second = any_web.client.get("/api/warehouse/items", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    by_sku = any_web.client.get("/api/warehouse/items", params={"q": "abc"}).json()
    by_ean = any_web.client.get("/api/warehouse/items", params={"q": "8594001234561"}).json()
    by_name = any_web.client.get("/api/warehouse/items", params={"q": "žlut"}).json()

    assert [i["sku"] for i in first["items"]] == ["ABC-1", "ABC-2"] and first["next_cursor"]
    assert [i["sku"] for i in second["items"]] == ["XYZ-9"] and second["next_cursor"] is None
    assert [i["sku"] for i in by_sku["items"]] == ["ABC-1", "ABC-2"]
    assert [i["sku"] for i in by_ean["items"]] == ["ABC-1"]
    assert [i["sku"] for i in by_name["items"]] == ["ABC-2"]


def test_a_cursor_this_server_did_not_hand_out_is_400(web: Web) -> None:
    response = web.client.get("/api/warehouse/items", params={"cursor": "not-a-cursor"})

    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_cursor"


def test_an_item_shows_stock_per_warehouse_availability_and_offers(web: Web) -> None:
    stocked(web)
    item = warehouse.find_item(web.app, "ABC-1")

    detail = web.client.get(f"/api/warehouse/items/{item.id}").json()
    page = web.page(f"/catalog/{item.id}")

    assert {s["warehouse"]: s["on_hand"] for s in detail["stock"]} == {"MAIN": "10", "BRNO": "0"}
    assert detail["availability"]["source"] == "own" and detail["availability"]["quantity"] == "10"
    assert detail["offers"] == []
    assert page.status_code == 200 and "Hrnek modrý" in page.text and "No supplier offers" in page.text


def test_an_unknown_item_is_404_in_the_api_and_on_the_page(web: Web) -> None:
    response = web.client.get("/api/warehouse/items/999")

    assert response.status_code == 404 and response.json()["error"]["code"] == "item_not_found"
    assert web.page("/catalog/999").status_code == 404


def test_the_catalogue_page_searches_and_links_each_item(web: Web) -> None:
    stocked(web)

    html = web.page("/catalog", q="ABC").text

    assert re.search(r'<a href="/catalog/\d+" class="mono">ABC-1</a>', html)
    assert "XYZ-9" not in html
    assert re.search(r'<a href="/catalog"[^>]*>Catalogue', html) and re.search(
        r'<a href="/documents"[^>]*>Documents', html
    )


def test_stock_lists_each_item_and_warehouse_with_a_cursor(any_web: Web) -> None:
    stocked(any_web)

    first = any_web.client.get("/api/warehouse/stock", params={"limit": 1}).json()
    rest = any_web.client.get("/api/warehouse/stock", params={"cursor": first["next_cursor"]}).json()

    assert [(s["sku"], s["warehouse"], s["available"]) for s in first["stock"] + rest["stock"]] == [
        ("ABC-1", "MAIN", "10"),
        ("ABC-2", "MAIN", "4"),
    ]
    assert rest["next_cursor"] is None
    assert "ABC-2" in any_web.page("/stock", warehouse="MAIN").text


# ---------------------------------------------------------------------------------------------- documents
def test_a_draft_is_created_with_lines_by_sku_then_posted_and_stock_moves(any_web: Web) -> None:
    stocked(any_web)

    created = any_web.post(
        "/api/warehouse/documents",
        {"type": "wz", "warehouse": "MAIN", "lines": ["ABC-1:3", {"sku": "ABC-2", "quantity": 1, "unit_price": "5"}]},
    )
    draft = created.json()
    posted = any_web.post(f"/api/warehouse/documents/{draft['id']}/post")

    assert created.status_code == 201 and draft["status"] == "draft" and draft["number"] is None
    assert [(line["sku"], line["quantity"]) for line in draft["lines"]] == [("ABC-1", "3"), ("ABC-2", "1")]
    assert posted.status_code == 200 and posted.json()["status"] == "posted"
    assert re.fullmatch(r"WZ/\d{4}/00001", posted.json()["number"])
    assert [(e["sku"], e["warehouse"], e["on_hand_delta"]) for e in posted.json()["ledger"]] == [
        ("ABC-1", "MAIN", "-3"),
        ("ABC-2", "MAIN", "-1"),
    ]
    levels = {s["sku"]: s["on_hand"] for s in any_web.client.get("/api/warehouse/stock").json()["stock"]}
    assert levels == {"ABC-1": "7", "ABC-2": "3"}


def test_posting_a_wz_beyond_stock_names_sku_warehouse_and_shortfall_and_writes_nothing(any_web: Web) -> None:
    stocked(any_web)
    draft = any_web.post("/api/warehouse/documents", {"type": "WZ", "warehouse": "MAIN", "lines": ["ABC-1:12"]}).json()
    before = any_web.counts()

    refused = any_web.post(f"/api/warehouse/documents/{draft['id']}/post")

    error = refused.json()["error"]
    assert refused.status_code == 422 and error["code"] == "insufficient_stock"
    assert "ABC-1" in error["message"] and "MAIN" in error["message"]
    assert error["shortages"] == [
        {"sku": "ABC-1", "warehouse": "MAIN", "requested": "12", "available": "10", "short": "2"}
    ]
    assert any_web.counts() == before
    assert any_web.client.get(f"/api/warehouse/documents/{draft['id']}").json()["status"] == "draft"


def test_posting_a_posted_document_again_is_409(web: Web) -> None:
    stocked(web)
    draft = web.post("/api/warehouse/documents", {"type": "PZ", "warehouse": "MAIN", "lines": ["XYZ-9:1"]}).json()
    web.post(f"/api/warehouse/documents/{draft['id']}/post")
    before = web.counts()

    again = web.post(f"/api/warehouse/documents/{draft['id']}/post")

    assert again.status_code == 409 and "posted" in again.json()["error"]["message"]
    assert web.counts() == before


def test_a_storno_reverses_a_posted_document_once(web: Web) -> None:
    stocked(web)
    receipt = web.client.get("/api/warehouse/documents", params={"type": "PZ"}).json()["documents"][0]

    storno = web.post(f"/api/warehouse/documents/{receipt['id']}/storno", {"note": "wrong delivery"})
    before = web.counts()
    twice = web.post(f"/api/warehouse/documents/{receipt['id']}/storno")

    assert storno.status_code == 201 and storno.json()["type"] == "ST"
    assert storno.json()["reverses_number"] == receipt["number"]
    assert {e["sku"]: e["on_hand_delta"] for e in storno.json()["ledger"]} == {"ABC-1": "-10", "ABC-2": "-4"}
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "invalid_state"
    assert web.counts() == before
    page = web.page(f"/documents/{receipt['id']}").text
    assert "Stornoed by" in page and storno.json()["number"] in page and ">Storno<" not in page


@pytest.mark.parametrize(
    ("body", "status", "code", "words"),
    [
        ({"type": "WZ", "warehouse": "MAIN", "lines": ["NOPE-1:2"]}, 422, "unknown_item", "'NOPE-1'"),
        ({"type": "WZ", "warehouse": "ATTIC", "lines": ["ABC-1:2"]}, 422, "unknown_warehouse", "'ATTIC'"),
        ({"type": "XX", "warehouse": "MAIN", "lines": ["ABC-1:2"]}, 422, "invalid_document", "XX"),
        ({"type": "WZ", "warehouse": "MAIN", "lines": ["ABC-1"]}, 422, "invalid_document", "SKU:QUANTITY"),
        ({"type": "WZ", "warehouse": "MAIN", "lines": ["ABC-1:-2"]}, 422, "invalid_document", "quantity"),
        ({"type": "MM", "warehouse": "MAIN", "lines": ["ABC-1:2"]}, 422, "invalid_document", "target"),
        ({"type": "WZ", "warehouse": "MAIN", "lines": ["ABC-1:20"], "post": True}, 422, "insufficient_stock", "ABC-1"),
        ({"warehouse": "MAIN", "lines": ["ABC-1:2"]}, 422, "invalid_request", "type"),
    ],
)
def test_a_bad_document_is_refused_with_the_reason_and_nothing_is_written(
    web: Web, body: dict[str, object], status: int, code: str, words: str
) -> None:
    stocked(web)
    before = web.counts()

    refused = web.post("/api/warehouse/documents", body)

    assert refused.status_code == status, refused.text
    assert refused.json()["error"]["code"] == code and words in refused.json()["error"]["message"]
    assert web.counts() == before


def test_a_browser_post_without_the_csrf_token_is_refused(web: Web) -> None:
    stocked(web)
    before = web.counts()

    refused = web.post(
        "/api/warehouse/documents", {"type": "PZ", "warehouse": "MAIN", "lines": ["ABC-1:1"]}, token=False
    )

    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
    assert web.counts() == before


def test_documents_are_filtered_by_type_status_and_day_and_paged(web: Web) -> None:
    stocked(web)
    for _ in range(3):
        web.post("/api/warehouse/documents", {"type": "WZ", "warehouse": "MAIN", "lines": ["ABC-1:1"]})

    drafts = web.client.get("/api/warehouse/documents", params={"status": "draft", "limit": 2}).json()
    more = web.client.get(
        "/api/warehouse/documents", params={"status": "draft", "cursor": drafts["next_cursor"]}
    ).json()
    receipts = web.client.get("/api/warehouse/documents", params={"type": "PZ"}).json()
    long_ago = web.client.get("/api/warehouse/documents", params={"date_to": "2001-01-01"}).json()
    bad_day = web.client.get("/api/warehouse/documents", params={"date_from": "yesterday"})

    assert len(drafts["documents"]) == 2 and len(more["documents"]) == 1 and more["next_cursor"] is None
    ids = [d["id"] for d in drafts["documents"] + more["documents"]]
    assert ids == sorted(ids, reverse=True)  # newest first, across pages
    assert [d["type"] for d in receipts["documents"]] == ["PZ"] and receipts["documents"][0]["warehouse"] == "MAIN"
    assert long_ago["documents"] == []
    assert bad_day.status_code == 422 and "YYYY-MM-DD" in bad_day.json()["error"]["message"]


def test_the_documents_page_lists_documents_and_offers_the_draft_form_with_the_csrf_token(web: Web) -> None:
    stocked(web)

    response = web.page("/documents", type="PZ")

    html = response.text
    token = web.client.cookies.get("conveyor_csrf")
    assert 'data-api-form="POST /api/warehouse/documents"' in html
    assert f'name="csrf_token" value="{token}"' in html
    assert re.search(r'<a href="/documents/\d+" class="mono">PZ/\d{4}/00001</a>', html)
    assert web.page("/documents", date_from="31.12.2025").status_code == 400


def test_a_draft_page_offers_post_and_a_posted_one_storno(web: Web) -> None:
    stocked(web)
    draft = web.post("/api/warehouse/documents", {"type": "WZ", "warehouse": "MAIN", "lines": ["ABC-1:2"]}).json()

    draft_html = web.page(f"/documents/{draft['id']}").text
    web.post(f"/api/warehouse/documents/{draft['id']}/post")
    posted_html = web.page(f"/documents/{draft['id']}").text

    assert f'data-action="POST /api/warehouse/documents/{draft["id"]}/post"' in draft_html
    assert "Nothing yet: posting writes" in draft_html
    assert f'data-action="POST /api/warehouse/documents/{draft["id"]}/storno"' in posted_html
    assert '/post"' not in posted_html and 'text-bad">-2' in posted_html
    assert web.page("/documents/999").status_code == 404
