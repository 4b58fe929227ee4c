"""The supplier feeds' JSON API and pages (integrations, runs with bad rows, the mapping editor and its
preview, the links review) over the real web app, with a supplier feed served by the feed simulator over
loopback HTTP and the import jobs run by a worker in this process."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from markupsafe import escape

from conveyor.commerce import warehouse
from conveyor.commerce.feeds.simulator import SimulatorConfig
from conveyor.commerce.feeds.simulator.server import serve_in_thread
from tests.commerce.feeds.feedrig import CSV_MAPPING
from tests.commerce.web.conftest import Web


@pytest.fixture(scope="module")
def sim() -> Iterator[str]:
    """A supplier feed simulator: 30 items, the same bytes for every test (seed 7)."""
    with serve_in_thread(SimulatorConfig(items=30, seed=7, malformed_share=0.2)) as base_url:
        yield base_url


def add_feed(web: Web, sim: str, *, query: str = "", **extra: Any) -> dict[str, Any]:
    """Supplier "velkoobchod" and its CSV feed "stock" (manual runs only), added through the API."""
    if web.client.get("/api/suppliers").json()["suppliers"] == []:
        assert web.post("/api/suppliers", {"code": "velkoobchod", "name": "Velkoobchod Žluťoučký"}).status_code == 201
    body = {
        "supplier": "velkoobchod",
        "feed": "stock",
        "source": f"{sim}/feeds/velkoobchod/stock.csv{query}",
        "mappings": CSV_MAPPING,
        "schedule": None,
        **extra,
    }
    created = web.post("/api/feeds", body)
    assert created.status_code == 201, created.text
    return dict(created.json())


def imported(web: Web, sim: str, query: str = "") -> tuple[dict[str, Any], int]:
    feed = add_feed(web, sim, query=query)
    queued = web.post(f"/api/feeds/{feed['id']}/import")
    assert queued.status_code == 202, queued.text
    web.work()
    return feed, int(queued.json()["execution_id"])


# ---------------------------------------------------------------------------------------------- integrations
def test_without_feeds_the_integrations_page_says_how_to_add_one(web: Web) -> None:
    html = web.page("/integrations").text

    assert "No supplier feeds yet" in html and "conveyor feeds add" in html
    assert re.search(r'<a href="/integrations"[^>]*>Integrations', html) and re.search(
        r'<a href="/links"[^>]*>Links', html
    )


def test_a_feed_added_through_the_api_is_listed_never_run_with_its_buttons(web: Web, sim: str) -> None:
    feed = add_feed(web, sim)

    listed = web.client.get("/api/feeds").json()
    html = web.page("/integrations").text

    assert [(f["name"], f["status"], f["supplier"]["code"]) for f in listed["feeds"]] == [
        ("stock", "never run", "velkoobchod")
    ]
    assert listed["next_cursor"] is None and listed["feeds"][0]["tasks"][0]["mappings"]["sku"] == "kód"
    for action in ("import", "dry-run", "link"):
        assert f'data-action="POST /api/feeds/{feed["id"]}/{action}"' in html
    assert "manual only" in html


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"supplier": "nobody"}, "supplier", "'nobody'"),
        ({"mappings": {"name": "název"}}, "mapping", "sku or to ean"),
        ({"schedule": "every hour"}, "schedule", "every hour"),
        ({"format": "xlsx"}, None, "xlsx"),
        ({"source": "/etc/passwd"}, None, "local feed files must lie in"),
    ],
)
def test_a_bad_feed_is_refused_with_the_reason_and_nothing_is_written(
    web: Web, sim: str, change: dict[str, Any], field: str | None, words: str
) -> None:
    web.post("/api/suppliers", {"code": "velkoobchod", "name": "Velkoobchod"})
    before = web.counts()
    body = {
        "supplier": "velkoobchod",
        "feed": "stock",
        "source": f"{sim}/feeds/velkoobchod/stock.csv",
        "mappings": CSV_MAPPING,
    }

    refused = web.post("/api/feeds", {**body, **change})

    error = refused.json()["error"]
    assert refused.status_code == 422 and words in error["message"], refused.text
    assert error.get("field") == field
    assert web.counts() == before


def test_import_now_runs_the_feed_and_its_page_shows_counts_and_bad_rows_with_lines(web: Web, sim: str) -> None:
    feed, execution_id = imported(web, sim, "?fault=malformed")

    detail = web.client.get(f"/api/feeds/{feed['id']}").json()
    run = detail["runs"][0]
    errors = web.client.get(f"/api/feeds/runs/{execution_id}/errors", params={"limit": 2}).json()
    rest = web.client.get(f"/api/feeds/runs/{execution_id}/errors", params={"cursor": errors["next_cursor"]}).json()
    html = web.page(f"/integrations/{feed['id']}").text

    assert detail["status"] == "imported" and run["id"] == execution_id and run["outcome"] == "imported"
    assert run["counts"]["failed"] >= 3 and run["counts"]["created"] == 30 - run["counts"]["failed"]
    every = errors["errors"] + rest["errors"]
    # Failed rows and warnings (an EAN dropped, a duplicate code overridden) are all listed.
    assert len(every) >= run["counts"]["failed"] and all(e["line"] >= 2 and e["reason"] for e in every)
    assert rest["next_cursor"] is None
    assert f'href="/integrations/runs/{execution_id}"' in html and "bad rows" in html
    assert f'data-row-error="{every[0]["line"]}"' in html
    assert str(escape(every[-1]["reason"])) in web.page(f"/integrations/runs/{execution_id}").text


def test_a_second_import_while_one_waits_is_409_and_queues_nothing(web: Web, sim: str) -> None:
    feed = add_feed(web, sim)
    first = web.post(f"/api/feeds/{feed['id']}/import")
    before = web.counts()

    second = web.post(f"/api/feeds/{feed['id']}/import")

    assert first.status_code == 202 and first.json()["execution_ids"]
    assert second.status_code == 409 and "already has a run in progress" in second.json()["error"]["message"]
    assert web.counts() == before


def test_a_dry_run_reports_the_rows_and_writes_no_supplier_item(web: Web, sim: str) -> None:
    feed = add_feed(web, sim)

    queued = web.post(f"/api/feeds/{feed['id']}/dry-run")
    web.work()

    run = web.client.get(f"/api/feeds/runs/{queued.json()['execution_id']}").json()
    assert queued.status_code == 202 and run["outcome"] == "dry_run" and run["counts"]["read"] == 30
    assert web.counts()["commerce_supplier_items"] == 0


def test_an_unknown_feed_or_run_is_404(web: Web) -> None:
    for path in ("/api/feeds/99", "/api/feeds/99/runs", "/api/feeds/runs/99", "/api/feeds/tasks/99"):
        response = web.client.get(path)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found", path
    assert web.post("/api/feeds/99/import").status_code == 404
    assert web.page("/integrations/99").status_code == 404


def test_a_browser_post_without_the_csrf_token_queues_nothing(web: Web, sim: str) -> None:
    feed = add_feed(web, sim)
    before = web.counts()

    refused = web.post(f"/api/feeds/{feed['id']}/import", token=False)

    assert refused.status_code == 403 and web.counts() == before


# ---------------------------------------------------------------------------------------------- mapping editor
def test_the_mapping_editor_shows_the_last_files_columns_and_saves_a_new_mapping(web: Web, sim: str) -> None:
    feed, _ = imported(web, sim)
    task_id = feed["tasks"][0]["id"]

    html = web.page(f"/integrations/{feed['id']}").text
    saved = web.post(f"/api/feeds/tasks/{task_id}/mapping", {"name": None, "purchase_price": "nákupní_cena"})

    assert f'data-api-form="POST /api/feeds/tasks/{task_id}/mapping"' in html
    assert '<span class="tag mono">kód</span>' in html and '<option value="dodací_lhůta">' in html
    assert saved.status_code == 200
    assert "name" not in saved.json()["mappings"] and saved.json()["mappings"]["sku"] == "kód"


def test_a_mapping_without_sku_or_ean_is_refused_and_the_saved_one_stays(web: Web, sim: str) -> None:
    feed = add_feed(web, sim)
    task_id = feed["tasks"][0]["id"]

    refused = web.post(f"/api/feeds/tasks/{task_id}/mapping", {"sku": "", "ean": None})

    assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_mapping"
    assert "map a column to sku or to ean" in refused.json()["error"]["message"]
    assert web.client.get(f"/api/feeds/tasks/{task_id}").json()["mappings"] == CSV_MAPPING


def test_the_preview_shows_the_first_rows_as_mapped_and_stores_the_columns(web: Web, sim: str) -> None:
    feed = add_feed(web, sim)
    task_id = feed["tasks"][0]["id"]

    preview = web.client.get(f"/api/feeds/tasks/{task_id}/preview", params={"n": 3}).json()
    html = web.page(f"/integrations/{feed['id']}", preview=task_id).text

    assert "kód" in preview["headers"] and len(preview["rows"]) == 3
    assert [m["line"] for m in preview["mapped"]] == [2, 3, 4] and preview["mapped"][0]["sku"]
    assert 'data-preview-line="2"' in html and preview["mapped"][0]["sku"] in html
    assert web.client.get(f"/api/feeds/tasks/{task_id}").json()["last_headers"] == preview["headers"]


def test_a_preview_of_a_feed_that_cannot_be_fetched_says_why(web: Web, sim: str) -> None:
    feed = add_feed(web, sim, query="?fault=500")
    task_id = feed["tasks"][0]["id"]

    response = web.client.get(f"/api/feeds/tasks/{task_id}/preview")
    html = web.page(f"/integrations/{feed['id']}", preview=task_id).text

    assert response.status_code == 502 and "500" in response.json()["error"]["message"]
    assert 'class="callout tone-bad"' in html


# ---------------------------------------------------------------------------------------------- links
def test_unmatched_items_are_reviewed_and_linked_by_hand_by_sku_then_unlinked(web: Web, sim: str) -> None:
    imported(web, sim)
    review = web.client.get("/api/feeds/supplier-items", params={"limit": 5}).json()
    first = review["items"][0]
    warehouse.add_item(web.app, "MY-1", "Můj hrnek")

    linked = web.post(f"/api/feeds/supplier-items/{first['id']}/link", {"sku": "my-1"})
    item = web.client.get(f"/api/warehouse/items/{linked.json()['item_id']}").json()
    unlinked = web.post(f"/api/feeds/supplier-items/{first['id']}/unlink")

    assert review["counts"]["unmatched"] == 30 and len(review["items"]) == 5 and review["next_cursor"]
    assert all(i["link_status"] == "unmatched" for i in review["items"])
    assert linked.status_code == 200 and linked.json()["method"] == "manual" and linked.json()["sku"] == "MY-1"
    assert [o["supplier_code"] for o in item["offers"]] == [first["supplier_code"]]
    assert unlinked.status_code == 200 and unlinked.json()["had_link"] is True
    statuses = web.client.get("/api/feeds/supplier-items", params={"status": "unlinked"}).json()["items"]
    assert [i["id"] for i in statuses] == [first["id"]]


def test_a_manual_link_to_an_unknown_sku_is_refused_and_changes_nothing(web: Web, sim: str) -> None:
    imported(web, sim)
    first = web.client.get("/api/feeds/supplier-items").json()["items"][0]
    before = web.counts()

    refused = web.post(f"/api/feeds/supplier-items/{first['id']}/link", {"sku": "NOPE-9"})
    missing = web.post("/api/feeds/supplier-items/99999/link", {"sku": "NOPE-9"})

    assert refused.status_code == 422 and refused.json()["error"]["field"] == "sku"
    assert "'NOPE-9'" in refused.json()["error"]["message"]
    assert missing.status_code == 404
    assert web.counts() == before


def test_the_links_page_lists_items_to_review_with_a_link_form_and_the_link_button(web: Web, sim: str) -> None:
    imported(web, sim)

    html = web.page("/links").text
    bad = web.page("/links", status="lost")

    assert re.search(r'data-link-count="unmatched"[^>]*>30 unmatched', html)
    assert html.count("data-link-form=") == 30 and 'data-action="POST /api/feeds/link"' in html
    assert bad.status_code == 400 and "unknown link status lost" in bad.text
    assert web.client.get("/api/feeds/supplier-items", params={"status": "lost"}).status_code == 422


def test_link_now_queues_a_linking_job_that_links_by_sku(web: Web, sim: str) -> None:
    imported(web, sim)
    code = web.client.get("/api/feeds/supplier-items").json()["items"][0]["sku"]
    warehouse.add_item(web.app, code, "Stejné SKU")

    queued = web.post("/api/feeds/link", {"supplier": "velkoobchod"})
    web.work()

    assert queued.status_code == 202 and queued.json()["job_id"]
    counts = web.client.get("/api/feeds/supplier-items").json()["counts"]
    assert counts["linked"] == 1 and counts["unmatched"] == 29
