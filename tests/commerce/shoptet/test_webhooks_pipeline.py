"""Shoptet webhooks into the pipelines: the signature picks the shop, each event is recorded once, an order
event queues one targeted fetch per order, and a bad signature changes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from conveyor import JobState
from conveyor.commerce import store
from conveyor.commerce.shoptet import pipelines
from conveyor.commerce.shoptet.webhooks import sign
from conveyor.commerce.store import ExecutionStatus
from conveyor.commerce.store.schema import orders, webhook_events
from tests.commerce.shoptet.test_pipelines import ESHOP_ID, Rig, forwarding_webhooks, rig, sqlite_rig

__all__ = ["rig", "sqlite_rig"]  # fixtures shared with test_pipelines

SIGNATURE_KEY = "8a5e881b19ad6cc0bc986587b22e30be"


def notification(event: str, instance: str, created: str = "2026-01-08T15:13:39+0100", **extra: Any) -> bytes:
    body = {"eshopId": ESHOP_ID, "event": event, "eventCreated": created, "eventInstance": instance, **extra}
    return json.dumps(body, separators=(",", ":")).encode()


@pytest.fixture
def keyed(rig: Rig) -> Rig:
    """The shop with a known signature key, as after ``register_webhooks``."""
    credentials = rig.pack.credentials(rig.shop.id)
    with rig.app.driver.begin() as conn:
        store.set_shop_credentials(conn, rig.pack.cipher, rig.shop.id, {**credentials, "signature_key": SIGNATURE_KEY})
    return rig


@pytest.fixture
def keyed_sqlite(sqlite_rig: Rig) -> Rig:
    credentials = sqlite_rig.pack.credentials(sqlite_rig.shop.id)
    with sqlite_rig.app.driver.begin() as conn:
        store.set_shop_credentials(
            conn, sqlite_rig.pack.cipher, sqlite_rig.shop.id, {**credentials, "signature_key": SIGNATURE_KEY}
        )
    return sqlite_rig


def deliver(rig: Rig, body: bytes, key: str = SIGNATURE_KEY) -> pipelines.WebhookResult:
    return pipelines.handle_webhook(rig.app, body, sign(body, key))


def events(rig: Rig) -> list[tuple[str, str]]:
    with rig.app.driver.read() as conn:
        return [(r[0], r[1]) for r in conn.execute(select(webhook_events.c.event, webhook_events.c.instance))]


def test_an_order_event_is_recorded_and_fetches_that_order(keyed: Rig) -> None:
    code = keyed.sim.data.order_code(7)

    result = deliver(keyed, notification("order:update", code))
    keyed.work()

    assert (result.shop_id, result.event, result.instance, result.duplicate) == (
        keyed.shop.id,
        "order:update",
        code,
        False,
    )
    assert events(keyed) == [("order:update", code)]
    execution = pipelines.get_execution(keyed.app, result.execution_id or 0)
    assert (execution.pipeline, execution.trigger, execution.status) == (
        "orders.fetch_one",
        "webhook",
        ExecutionStatus.COMPLETED,
    )
    assert execution.counts.created == 1
    with keyed.app.driver.read() as conn:
        assert store.find_order(conn, keyed.shop.id, code) is not None


def test_a_repeated_delivery_is_recorded_once_counted_and_makes_one_job(keyed: Rig) -> None:
    body = notification("order:create", keyed.sim.data.order_code(3))

    first = deliver(keyed, body)
    second = deliver(keyed, body)

    assert not first.duplicate and first.job_id is not None
    assert second.duplicate and second.event_id is None and second.job_id == first.job_id  # the waiting job
    assert "repeated order:create" in second.action
    assert len(events(keyed)) == 1
    with keyed.app.driver.read() as conn:
        assert conn.execute(select(webhook_events.c.deliveries)).scalar_one() == 2
    assert len(keyed.jobs("shoptet.orders.fetch_one")) == 1


def test_a_second_update_in_the_same_second_after_the_first_was_fetched_is_fetched_too(keyed_sqlite: Rig) -> None:
    rig = keyed_sqlite
    code = rig.sim.data.order_code(7)
    body = notification("order:update", code)  # both updates carry the same eventCreated second
    deliver(rig, body)
    rig.work()
    index = rig.sim.data.order_index(code)
    assert index is not None
    with rig.sim.data.lock:
        rig.sim.data.order_status[index] = -2
        rig.sim.data.order_changed[index] += 1

    second = deliver(rig, body)
    rig.work()

    assert second.job_id is not None
    with rig.app.driver.read() as conn:
        stored = conn.execute(select(orders.c.change_time).where(orders.c.code == code)).scalar_one()
    assert stored == rig.sim.data.order_changed[index]
    assert [j.state for j in rig.jobs("shoptet.orders.fetch_one")] == [JobState.COMPLETED, JobState.COMPLETED]


def test_a_burst_of_events_for_one_order_makes_one_waiting_job(keyed_sqlite: Rig) -> None:
    code = keyed_sqlite.sim.data.order_code(5)
    results = [
        deliver(keyed_sqlite, notification(event, code, created=f"2026-01-08T15:13:{second:02d}+0100"))
        for second, event in enumerate(["order:create", "order:update", "order:paid", "order:update"])
    ]

    assert len({r.job_id for r in results}) == 1 and len({r.event_id for r in results}) == 4
    assert len({r.execution_id for r in results}) == 1
    other = deliver(keyed_sqlite, notification("order:update", keyed_sqlite.sim.data.order_code(6)))
    assert other.job_id != results[0].job_id
    keyed_sqlite.work()
    jobs = keyed_sqlite.jobs("shoptet.orders.fetch_one")
    assert [j.state for j in jobs] == [JobState.COMPLETED, JobState.COMPLETED]
    assert keyed_sqlite.count(orders) == 2


@pytest.mark.parametrize(
    "signature",
    [None, "", sign(b"another body", SIGNATURE_KEY), "0" * 40],
    ids=["missing", "empty", "of-another-body", "garbage"],
)
def test_a_bad_signature_is_refused_and_nothing_is_recorded_or_enqueued(keyed_sqlite: Rig, signature: Any) -> None:
    body = notification("order:create", keyed_sqlite.sim.data.order_code(1))

    with pytest.raises(pipelines.WebhookSignatureError):
        pipelines.handle_webhook(keyed_sqlite.app, body, signature)

    assert events(keyed_sqlite) == []
    assert keyed_sqlite.jobs("shoptet.orders.fetch_one") == []


def test_a_body_signed_with_another_shops_key_is_refused(keyed_sqlite: Rig) -> None:
    body = notification("order:create", "2026000001")
    with pytest.raises(pipelines.WebhookSignatureError, match="matches no Shoptet shop"):
        deliver(keyed_sqlite, body, key="not-our-key")
    assert events(keyed_sqlite) == []


def test_a_signed_notification_for_another_eshop_is_refused(keyed_sqlite: Rig) -> None:
    body = json.dumps({"eshopId": 1, "event": "order:create", "eventInstance": "2026000001"}).encode()
    with pytest.raises(pipelines.WebhookPayloadError, match="eshopId 1"):
        deliver(keyed_sqlite, body)
    assert events(keyed_sqlite) == []


def test_a_signed_body_that_is_not_a_notification_is_a_payload_error(keyed_sqlite: Rig) -> None:
    with pytest.raises(pipelines.WebhookPayloadError):
        deliver(keyed_sqlite, b'{"hello": "world"}')


def test_other_events_are_recorded_and_enqueue_nothing(keyed_sqlite: Rig) -> None:
    result = deliver(keyed_sqlite, notification("job:finished", "abc1234"))
    assert result.job_id is None and "job:finished" in result.action
    assert events(keyed_sqlite) == [("job:finished", "abc1234")]
    assert keyed_sqlite.jobs("shoptet.orders.fetch_one") == []


def test_an_order_event_for_an_order_shoptet_no_longer_has_deletes_it_here(keyed_sqlite: Rig) -> None:
    keyed_sqlite.run()
    code = keyed_sqlite.sim.data.order_code(0)
    with keyed_sqlite.app.driver.begin() as conn:  # as if it existed once: Shoptet answers 404 for this code
        conn.execute(orders.update().where(orders.c.code == code).values(code="1999999999"))

    result = deliver(keyed_sqlite, notification("order:delete", "1999999999"))
    keyed_sqlite.work()

    assert pipelines.get_execution(keyed_sqlite.app, result.execution_id or 0).status is ExecutionStatus.COMPLETED
    with keyed_sqlite.app.driver.read() as conn:
        assert store.find_order(conn, keyed_sqlite.shop.id, "1999999999") is None


def test_webhooks_shoptet_delivers_bring_new_orders_in_end_to_end(sqlite_rig: Rig) -> None:
    with forwarding_webhooks(sqlite_rig) as webhooks:
        stored_key = sqlite_rig.pack.credentials(sqlite_rig.shop.id)["signature_key"]
        assert stored_key == sqlite_rig.sim.signature_key  # fetched from Shoptet and kept encrypted
        traffic = sqlite_rig.advance(new_orders=3)
        webhooks.wait_for(lambda results: len(results) >= 3)
        sqlite_rig.work()

    assert webhooks.refused == 0
    assert sorted(r.instance for r in webhooks.results) == sorted(traffic["created"])
    with sqlite_rig.app.driver.read() as conn:
        found = {row[0] for row in conn.execute(select(orders.c.code))}
    assert found == set(traffic["created"])
