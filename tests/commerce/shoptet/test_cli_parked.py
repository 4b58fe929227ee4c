"""``conveyor shoptet parked list/retry/dismiss`` and ``conveyor shoptet shops update --webhook-url``."""

from __future__ import annotations

import json

from conveyor.commerce import store
from conveyor.commerce.store import Failure
from tests.commerce.shoptet.test_cli_shoptet import _wide_terminal, shoptet
from tests.commerce.shoptet.test_pipelines import Rig, forwarding_webhooks, sqlite_rig

__all__ = ["_wide_terminal", "sqlite_rig"]


def _park(rig: Rig, code: str = "2026000042") -> int:
    with rig.app.driver.begin() as conn:
        store.note_failures(conn, rig.shop.id, "order", [Failure(code, "price: field required")], park_after=1)
        [record] = store.list_parked(conn, rig.shop.id)
    return record.id


def test_parked_list_shows_each_record_with_its_last_error(sqlite_rig: Rig) -> None:
    _park(sqlite_rig)

    code, out = shoptet(sqlite_rig, "parked", "list")

    assert code == 0, out
    assert "2026000042" in out and "price: field required" in out and "parked" in out


def test_parked_list_json_is_machine_readable(sqlite_rig: Rig) -> None:
    record_id = _park(sqlite_rig)

    code, out = shoptet(sqlite_rig, "parked", "list", "--shop", "acme", "--json")

    assert code == 0, out
    [record] = json.loads(out)["parked"]
    assert (record["id"], record["code"], record["status"]) == (record_id, "2026000042", "parked")


def test_parked_dismiss_then_retry_from_the_cli(sqlite_rig: Rig) -> None:
    record_id = _park(sqlite_rig)

    code, out = shoptet(sqlite_rig, "parked", "dismiss", str(record_id))
    assert code == 0 and f"parked record {record_id} (order 2026000042) dismissed" in out
    code, out = shoptet(sqlite_rig, "parked", "retry", str(record_id), "--json")

    assert code == 0, out
    assert json.loads(out)["job_id"] > 0
    with sqlite_rig.app.driver.read() as conn:
        assert store.get_parked(conn, record_id).status is store.ParkedStatus.PARKED


def test_retrying_an_unknown_parked_record_is_a_one_line_error(sqlite_rig: Rig) -> None:
    code, out = shoptet(sqlite_rig, "parked", "retry", "999")

    assert code == 2 and "parked record 999 not found" in out and "Traceback" not in out


def test_shops_update_webhook_url_registers_the_webhooks(sqlite_rig: Rig) -> None:
    with forwarding_webhooks(sqlite_rig, events=()) as forwarder:
        code, out = shoptet(sqlite_rig, "shops", "update", "acme", "--webhook-url", forwarder.url)

    assert code == 0, out
    assert f"webhooks registered to {forwarder.url}" in out
    assert {h.event for h in sqlite_rig.sim.webhooks.values()} == {"order:create", "order:update", "job:finished"}


def test_shops_update_without_anything_to_change_is_a_one_line_error(sqlite_rig: Rig) -> None:
    code, out = shoptet(sqlite_rig, "shops", "update", "acme")

    assert code == 2 and "nothing to update: give --url and/or --webhook-url" in out


def test_shops_list_says_why_a_cursor_is_stalled_without_listing_it_as_a_cursor(sqlite_rig: Rig) -> None:
    from conveyor.commerce.shoptet import sync

    stall = {"reason": "the list of orders changed while it was read (heavy churn)", "since": 1.0, "runs": 3}
    with sqlite_rig.app.driver.begin() as conn:
        store.set_cursor(conn, sqlite_rig.shop.id, sync.stall_key(sync.CURSOR_ORDERS), json.dumps(stall))

    code, out = shoptet(sqlite_rig, "shops", "list")

    assert code == 0, out
    assert "acme: orders.change_time has not moved for 3 runs: the list of orders changed while it was read" in out
    assert "orders.change_time.stalled" not in out
