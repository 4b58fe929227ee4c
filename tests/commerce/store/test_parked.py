"""Parked records: counted while failing, parked after N runs in a row, retried with back-off, resolved when
they import, and retried or dismissed by an operator (on SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from conveyor import InvalidStateError
from conveyor.commerce import store
from conveyor.commerce.store import Failure, ParkedRecordNotFoundError, ParkedStatus, Shop
from conveyor.commerce.store.parked import RETRY_DELAY


def _fail(engine: Engine, shop: Shop, *codes: str, at: float, park_after: int = 3) -> dict[str, ParkedStatus]:
    with engine.begin() as conn:
        failures = [Failure(code, f"{code} is missing its price", "2026-01-01T10:00:00+0100") for code in codes]
        return store.note_failures(conn, shop.id, "order", failures, park_after=park_after, at=at)


def test_a_record_is_failing_until_it_fails_n_runs_in_a_row_then_parked(engine: Engine, shop: Shop) -> None:
    assert _fail(engine, shop, "A1", at=100.0) == {"A1": ParkedStatus.FAILING}
    assert _fail(engine, shop, "A1", at=200.0) == {"A1": ParkedStatus.FAILING}
    assert _fail(engine, shop, "A1", at=300.0) == {"A1": ParkedStatus.PARKED}

    with engine.connect() as conn:
        [parked] = store.list_parked(conn, shop.id)
    assert (parked.code, parked.kind, parked.failures, parked.parked_at) == ("A1", "order", 3, 300.0)
    assert parked.last_error == "A1 is missing its price" and parked.change_time == "2026-01-01T10:00:00+0100"
    assert parked.next_retry_at == 300.0 + RETRY_DELAY


def test_a_failing_record_is_not_listed_as_parked(engine: Engine, shop: Shop) -> None:
    _fail(engine, shop, "A1", at=100.0)

    with engine.connect() as conn:
        assert store.list_parked(conn, shop.id) == []
        assert store.count_parked(conn, shop.id) == {"failing": 1}


def test_a_parked_record_is_due_after_its_back_off_which_doubles_each_failed_retry(engine: Engine, shop: Shop) -> None:
    _fail(engine, shop, "A1", at=100.0, park_after=1)
    with engine.connect() as conn:
        assert store.due_parked(conn, shop.id, "order", at=100.0 + RETRY_DELAY - 1) == []
        assert store.due_parked(conn, shop.id, "order", at=100.0 + RETRY_DELAY) == ["A1"]

    _fail(engine, shop, "A1", at=2000.0, park_after=1)

    with engine.connect() as conn:
        [parked] = store.list_parked(conn, shop.id)
    assert (parked.retries, parked.next_retry_at) == (1, 2000.0 + 2 * RETRY_DELAY)


def test_a_record_that_imports_is_resolved_and_forgotten(engine: Engine, shop: Shop) -> None:
    _fail(engine, shop, "A1", "A2", at=100.0, park_after=1)

    with engine.begin() as conn:
        assert store.resolve(conn, shop.id, "order", ["A1", "B9"]) == 1
        assert [p.code for p in store.list_parked(conn, shop.id)] == ["A2"]
        assert store.tracked_codes(conn, shop.id, "order") == {"A2"}


def test_an_operator_dismisses_a_parked_record_which_stays_listed_and_is_not_retried(
    engine: Engine, shop: Shop
) -> None:
    _fail(engine, shop, "A1", at=100.0, park_after=1)
    with engine.connect() as conn:
        [parked] = store.list_parked(conn, shop.id)

    with engine.begin() as conn:
        dismissed = store.dismiss_parked(conn, parked.id)

    assert dismissed.status is ParkedStatus.DISMISSED and dismissed.next_retry_at is None
    with engine.connect() as conn:
        assert store.due_parked(conn, shop.id, "order", at=10**10) == []
        assert [p.status for p in store.list_parked(conn, shop.id)] == [ParkedStatus.DISMISSED]


def test_an_operators_retry_makes_a_dismissed_record_due_now(engine: Engine, shop: Shop) -> None:
    _fail(engine, shop, "A1", at=100.0, park_after=1)
    with engine.begin() as conn:
        [parked] = store.list_parked(conn, shop.id)
        store.dismiss_parked(conn, parked.id)

    with engine.begin() as conn:
        retried = store.retry_parked(conn, parked.id, at=150.0)

    assert (retried.status, retried.next_retry_at) == (ParkedStatus.PARKED, 150.0)
    with engine.connect() as conn:
        assert store.due_parked(conn, shop.id, "order", at=150.0) == ["A1"]


def test_retrying_a_record_that_is_only_failing_is_refused_and_changes_nothing(engine: Engine, shop: Shop) -> None:
    _fail(engine, shop, "A1", at=100.0)
    with engine.connect() as conn:
        [failing] = store.list_parked(conn, shop.id, statuses=[ParkedStatus.FAILING])

    refused = r"record \d+ \(order A1\) is failing: it cannot be retried"
    with pytest.raises(InvalidStateError, match=refused), engine.begin() as conn:
        store.retry_parked(conn, failing.id)

    with engine.connect() as conn:
        assert store.get_parked(conn, failing.id) == failing


def test_an_unknown_parked_record_is_reported_by_id(engine: Engine, shop: Shop) -> None:
    with pytest.raises(ParkedRecordNotFoundError, match="parked record 999 not found"), engine.begin() as conn:
        store.dismiss_parked(conn, 999)


def test_deleting_the_shop_deletes_its_parked_records(engine: Engine, shop: Shop) -> None:
    _fail(engine, shop, "A1", at=100.0, park_after=1)

    with engine.begin() as conn:
        assert store.delete_shop(conn, shop.id)
        assert store.list_parked(conn) == []


def test_a_repeated_webhook_delivery_is_counted_on_its_event(engine: Engine, shop: Shop) -> None:
    created = "2026-01-01T10:00:00+0100"
    with engine.begin() as conn:
        assert store.record_webhook_event(conn, shop.id, "order:update", "2026000001", created) is not None
        assert store.record_webhook_event(conn, shop.id, "order:update", "2026000001", created) is None

        assert store.count_repeat_delivery(conn, shop.id, "order:update", "2026000001", created) == 2
