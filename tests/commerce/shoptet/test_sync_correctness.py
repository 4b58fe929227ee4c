"""Incremental sync correctness (issue #11, 1-3): the cursor never passes a record it did not see whatever
Shoptet's clock says, a permanently malformed record is parked instead of pinning the cursor, and a shop
whose list keeps shifting still makes progress (or says why not)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from conveyor.commerce import store
from conveyor.commerce.shoptet import pipelines, sync
from conveyor.commerce.shoptet.simulator import SimulatorConfig
from conveyor.commerce.store import ExecutionStatus, ParkedStatus
from conveyor.commerce.store.schema import orders
from tests.commerce.shoptet.test_pipelines import SHOP, Rig, running_shop


@pytest.fixture
def skewed_rig(tmp_path: Path) -> Iterator[Rig]:
    """A shop whose clock is 10 s behind ours (``conveyor sim shoptet --clock-skew -10s``)."""
    with running_shop(f"sqlite:///{tmp_path / 'conveyor.db'}", tmp_path, clock_skew=-10.0) as running:
        yield running


def _stored_change_time(rig: Rig, code: str) -> float:
    with rig.app.driver.read() as conn:
        return float(conn.execute(select(orders.c.change_time).where(orders.c.code == code)).scalar_one())


def _on_list_request(rig: Rig, action: Callable[[int], None]) -> None:
    """Call ``action(n)`` before the simulator answers its n-th orders list request (n from 1)."""
    data = rig.sim.data
    original = data.order_indices
    calls = [0]

    def order_indices(**filters: Any) -> list[int]:
        calls[0] += 1
        action(calls[0])
        return list(original(**filters))

    data.order_indices = order_indices


def _change(rig: Rig, index: int, at: float) -> None:
    """Change one order at the shop's moment ``at``, as a customer or the shop's staff would."""
    data = rig.sim.data
    with data.lock:
        data.order_status[index] = {-1: -4, -4: -2, -2: -2, -3: -3}[data.order_status[index]]
        data.order_changed[index] = float(int(at))


# ---------------------------------------------------------------------------------------------- clock skew
def test_an_order_changed_on_a_page_already_read_is_stored_when_shoptets_clock_is_behind(skewed_rig: Rig) -> None:
    rig = skewed_rig
    newest_first = list(range(SHOP["orders"] - 1, -1, -1))
    # List pages of 50: the first order of page 1 (its detail is imported before page 2 is asked for) and
    # one on page 3.
    on_read_page, on_unread_page = newest_first[0], newest_first[-10]

    def changes_underneath(n: int) -> None:
        if n == 2:  # the run has read page 1 and asks for page 2
            now = rig.sim.clock()
            _change(rig, on_read_page, now)
            _change(rig, on_unread_page, now + 1)  # a later change, on a page still to come

    _on_list_request(rig, changes_underneath)
    rig.run()
    rig.sim.data.order_indices = type(rig.sim.data).order_indices.__get__(rig.sim.data)
    quiet = rig.run()

    assert quiet.status is ExecutionStatus.COMPLETED
    for index in (on_read_page, on_unread_page):
        code = rig.sim.data.order_code(index)
        assert _stored_change_time(rig, code) == rig.sim.data.order_changed[index], f"order {code} is stale"


def test_the_cursor_stays_behind_shoptets_clock_by_the_margin(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'conveyor.db'}"
    with running_shop(url, tmp_path, clock_skew=-10.0, pack_options={"cursor_margin": 30.0}) as rig:
        rig.advance(new_orders=2)
        started = rig.sim.clock()

        rig.run()

        cursor = rig.cursor()
        assert cursor is not None
        assert datetime.fromisoformat(cursor).timestamp() <= int(started) + 1 - 30.0


# ---------------------------------------------------------------------------------------------- parked
def _broken_shop(tmp_path: Path, **pack_options: Any) -> Any:
    url = f"sqlite:///{tmp_path / 'conveyor.db'}"
    return running_shop(url, tmp_path, malformed_rate=0.05, pack_options=pack_options)


def test_a_record_failing_n_runs_in_a_row_is_parked_and_the_cursor_moves_past_it(tmp_path: Path) -> None:
    with _broken_shop(tmp_path, park_after_failures=2) as rig:
        data = rig.sim.data
        broken = sorted(data.order_code(i) for i in range(SHOP["orders"]) if data.malformation("orders", i, 0.05))
        assert broken

        rig.run()
        held = rig.cursor()
        rig.run()  # second failure in a row: parked

        parked = pipelines.list_parked(rig.app, rig.shop.id)
        assert sorted(p.code for p in parked) == broken
        assert all(p.status is ParkedStatus.PARKED and p.failures == 2 and p.last_error for p in parked)
        cursor = rig.cursor()
        assert held is not None and cursor is not None
        assert (
            datetime.fromisoformat(cursor).timestamp()
            == max(data.order_changed)
            > (datetime.fromisoformat(held).timestamp())
        )
        with rig.app.driver.read() as conn:
            assert sync.get_stall(conn, rig.shop.id, sync.CURSOR_ORDERS) is None


def test_a_cursor_held_by_a_failing_record_is_shown_as_stalled_with_its_reason(tmp_path: Path) -> None:
    with _broken_shop(tmp_path, park_after_failures=5) as rig:
        rig.run()
        rig.run()

        [overview] = pipelines.shops_overview(rig.app)
        stall = overview.stalls[sync.CURSOR_ORDERS]
        assert stall is not None and "order(s) that failed" in stall["reason"]
        assert "parked after 5 failed runs in a row" in stall["reason"]


def test_a_parked_record_that_imports_on_its_retry_is_resolved(tmp_path: Path) -> None:
    with _broken_shop(tmp_path, park_after_failures=1) as rig:
        rig.run()
        [first, *_] = pipelines.list_parked(rig.app, rig.shop.id)
        rig.sim.config = SimulatorConfig(**SHOP)  # the shop fixed its data

        pipelines.retry_parked(rig.app, first.id)
        rig.work()

        assert first.code not in {p.code for p in pipelines.list_parked(rig.app, rig.shop.id)}
        with rig.app.driver.read() as conn:
            assert store.find_order(conn, rig.shop.id, first.code) is not None


def test_a_dismissed_record_stays_listed_and_is_not_fetched_again(tmp_path: Path) -> None:
    with _broken_shop(tmp_path, park_after_failures=1) as rig:
        rig.run()
        [first, *_] = pipelines.list_parked(rig.app, rig.shop.id)

        dismissed = pipelines.dismiss_parked(rig.app, first.id)
        again = rig.run()

        assert dismissed.status is ParkedStatus.DISMISSED
        assert again.counts.read == 0 or first.code not in {
            e.record_code for e in pipelines.execution_errors(rig.app, again.id, limit=500)
        }
        assert first.code in {p.code for p in pipelines.list_parked(rig.app, rig.shop.id)}


# ---------------------------------------------------------------------------------------------- churn
def _churn(rig: Rig, per_request: int) -> Callable[[int], None]:
    """Before each list request, ``per_request`` recently changed orders change again (they leave the window)."""

    def churn(n: int) -> None:
        data = rig.sim.data
        future = rig.sim.clock() + 3600  # after the run's window: they leave it
        recent = sorted(
            (i for i in range(len(data.order_changed)) if data.order_changed[i] < future - 1800),
            key=lambda i: data.order_changed[i],
        )[-per_request:]
        for index in recent:
            _change(rig, index, future)

    return churn


def test_a_list_that_keeps_shifting_is_read_in_narrower_windows_and_the_cursor_moves(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'conveyor.db'}"
    with running_shop(url, tmp_path, pack_options={"min_window_seconds": 1.0}) as rig:
        _on_list_request(rig, _churn(rig, per_request=5))

        execution = rig.run()

        assert execution.status is ExecutionStatus.COMPLETED
        cursor = rig.cursor()
        assert cursor is not None
        bound = datetime.fromisoformat(cursor).timestamp()
        data = rig.sim.data
        for index in range(len(data.order_changed)):
            if data.order_changed[index] <= bound:  # everything the cursor passed is stored as it is now
                assert _stored_change_time(rig, data.order_code(index)) == data.order_changed[index]


def test_a_cursor_that_cannot_move_under_churn_is_shown_as_stalled_with_its_reason(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'conveyor.db'}"
    never_narrow = {"min_window_seconds": 10**9}
    with running_shop(url, tmp_path, pack_options=never_narrow) as rig:
        _on_list_request(rig, _churn(rig, per_request=5))

        rig.run()

        assert rig.cursor() is None
        [overview] = pipelines.shops_overview(rig.app)
        stall = overview.stalls[sync.CURSOR_ORDERS]
        assert stall is not None and "changed while it was read (heavy churn)" in stall["reason"]
        assert stall["runs"] == 1
