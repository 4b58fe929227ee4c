"""The Shops page and API for sync health (issue #11): parked records with Retry/Dismiss, a stalled cursor
with its reason, and registering webhooks for a shop that has none."""

from __future__ import annotations

import json
from typing import Any

from conveyor.commerce import store
from conveyor.commerce.shoptet import sync
from conveyor.commerce.store import Failure
from tests.commerce.test_web import ORIGIN, Web, sq

__all__ = ["sq"]


def _park(web: Web, code: str = "2026000042") -> int:
    with web.app.driver.begin() as conn:
        store.note_failures(conn, web.shop_id, "order", [Failure(code, "price: field required")], park_after=1)
        [record] = store.list_parked(conn, web.shop_id)
    return record.id


def _post(web: Web, path: str, body: dict[str, object] | None = None) -> Any:
    web.page("/shops")
    headers = {
        "Origin": ORIGIN,
        "Accept": "application/json",
        "X-CSRF-Token": web.client.cookies.get("conveyor_csrf") or "",
    }
    return web.client.post(path, headers=headers, json=body)


def test_the_shops_page_lists_a_parked_record_with_its_error_and_buttons(sq: Web) -> None:
    record_id = _park(sq)

    html = sq.page("/shops").text

    assert "order 2026000042" in html and "price: field required" in html
    assert f'data-action="POST /api/parked/{record_id}/retry"' in html
    assert f'data-action="POST /api/parked/{record_id}/dismiss"' in html


def test_the_shops_page_shows_a_stalled_cursor_with_its_reason(sq: Web) -> None:
    with sq.app.driver.begin() as conn:
        stall = {"reason": "the list of orders changed while it was read (heavy churn)", "since": 1.0, "runs": 3}
        store.set_cursor(conn, sq.shop_id, sync.stall_key(sync.CURSOR_ORDERS), json.dumps(stall))

    html = sq.page("/shops").text

    assert 'data-health="stalled"' in html and "has not moved for 3 runs" in html
    assert "changed while it was read (heavy churn)" in html
    assert "orders.change_time.stalled" not in html  # not shown as if it were a cursor


def test_the_api_lists_retries_and_dismisses_parked_records(sq: Web) -> None:
    record_id = _park(sq)

    listed = sq.client.get("/api/parked", params={"shop_id": sq.shop_id}).json()
    dismissed = _post(sq, f"/api/parked/{record_id}/dismiss")
    retried = _post(sq, f"/api/parked/{record_id}/retry")

    assert [r["code"] for r in listed["parked"]] == ["2026000042"]
    assert dismissed.status_code == 200 and dismissed.json()["status"] == "dismissed"
    assert retried.status_code == 202 and retried.json()["job_id"] > 0
    with sq.app.driver.read() as conn:
        assert store.get_parked(conn, record_id).status is store.ParkedStatus.PARKED


def test_retrying_an_unknown_parked_record_is_a_404_with_its_id(sq: Web) -> None:
    response = _post(sq, "/api/parked/999/retry")

    assert response.status_code == 404
    assert response.json()["error"]["message"] == "parked record 999 not found (it may have imported since)"


def test_a_shop_without_webhooks_gets_a_button_that_registers_them(sq: Web) -> None:
    creds = sq.pack.credentials(sq.shop_id)
    creds.pop("signature_key")
    with sq.app.driver.begin() as conn:
        store.set_shop_credentials(conn, sq.pack.cipher, sq.shop_id, creds)
    assert f'data-action="POST /api/shops/{sq.shop_id}/webhooks"' in sq.page("/shops").text

    response = _post(sq, f"/api/shops/{sq.shop_id}/webhooks", {"url": "http://127.0.0.1:9/webhooks/shoptet"})

    assert response.status_code == 200
    assert set(response.json()["registered"]) == {"order:create", "order:update", "job:finished"}
    assert sq.pack.credentials(sq.shop_id).get("signature_key")
    assert 'data-health="webhooks"' not in sq.page("/shops").text


def test_a_webhook_url_that_is_not_http_is_refused_and_nothing_is_registered(sq: Web) -> None:
    response = _post(sq, f"/api/shops/{sq.shop_id}/webhooks", {"url": "ftp://example.com/hook"})

    assert response.status_code == 422
    assert "must start with http:// or https://" in response.json()["error"]["message"]
    assert sq.sim.webhooks == {}


def test_the_shops_api_gives_a_stall_apart_from_the_cursors(sq: Web) -> None:
    stall = {"reason": "the list of orders changed while it was read (heavy churn)", "since": 1.0, "runs": 3}
    with sq.app.driver.begin() as conn:
        store.set_cursor(conn, sq.shop_id, sync.CURSOR_ORDERS, "2026-03-01T10:00:00+01:00")
        store.set_cursor(conn, sq.shop_id, sync.stall_key(sync.CURSOR_ORDERS), json.dumps(stall))

    listed = sq.client.get("/api/shops").json()
    one = sq.client.get(f"/api/shops/{sq.shop_id}").json()

    for shop in (next(s for s in listed if s["id"] == sq.shop_id), one):
        assert list(shop["cursors"]) == [sync.CURSOR_ORDERS]
        assert shop["stalls"] == {sync.CURSOR_ORDERS: stall}
