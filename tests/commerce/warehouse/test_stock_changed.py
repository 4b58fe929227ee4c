"""The debounced stock-change job: a burst of postings queues one ``warehouse.stock_changed`` job, which hands
each changed item to the listeners once and consumes the outbox; a failing listener loses nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from conveyor import Conveyor, clock
from conveyor.commerce import warehouse
from conveyor.commerce.store import stock
from conveyor.commerce.store.documents import LineInput


def _jobs(app: Conveyor) -> list[tuple[str, float]]:
    with app.read_transaction() as conn:
        rows = conn.execute(
            text("SELECT state, scheduled_at FROM conveyor_jobs WHERE task = 'warehouse.stock_changed' ORDER BY id")
        ).all()
    return [(state, float(at)) for state, at in rows]


def _work(app: Conveyor) -> None:
    app.work(["default"], processes=0, stop_when_empty=True, sleep=0.05)


def _setup(app: Conveyor, items: int) -> None:
    for n in range(items):
        warehouse.add_item(app, f"SKU-{n}", f"Item {n}")
    warehouse.add_warehouse(app, "MAIN")


def test_a_burst_of_postings_makes_one_job_that_reports_each_item_once(app: Conveyor) -> None:
    reported: list[list[int]] = []
    warehouse.on_stock_changed(app, lambda conn, items: reported.append(items))
    _setup(app, 10)
    for n in range(100):  # each posting in its own transaction, each item changed ten times
        warehouse.create_document(app, "PZ", "MAIN", [LineInput(f"SKU-{n % 10}", 1)], post=True)
    assert len(_jobs(app)) == 1
    _work(app)
    assert reported == [list(range(1, 11))]
    assert [state for state, _ in _jobs(app)] == ["completed"]
    with app.read_transaction() as conn:
        assert stock.count_stock_changes(conn) == 0


def test_postings_after_the_job_ran_queue_the_next_one(app: Conveyor) -> None:
    reported: list[list[int]] = []
    warehouse.on_stock_changed(app, lambda conn, items: reported.append(items))
    _setup(app, 3)
    warehouse.create_document(app, "PZ", "MAIN", [LineInput("SKU-0", 1)], post=True)
    _work(app)
    warehouse.create_document(app, "PZ", "MAIN", [LineInput("SKU-1", 1), LineInput("SKU-2", 1)], post=True)
    warehouse.reserve(app, "SKU-2", "MAIN", 1, "ORDER-1")
    _work(app)
    assert reported == [[1], [2, 3]] and len(_jobs(app)) == 2


def test_the_job_waits_for_the_debounce_delay(tmp_path: Path) -> None:
    app = Conveyor(f"sqlite:///{tmp_path / 'w.db'}")
    warehouse.install(app, stock_changed_delay=2.0)
    app.migrate()
    _setup(app, 1)
    before = clock.now()
    for _ in range(5):
        warehouse.create_document(app, "PZ", "MAIN", [LineInput("SKU-0", 1)], post=True)
    ((state, scheduled_at),) = _jobs(app)
    assert state == "scheduled" and scheduled_at >= before + 2.0
    app.close()


def test_a_failing_listener_leaves_the_changes_for_the_retry(app: Conveyor) -> None:
    calls: list[list[int]] = []

    def flaky(conn: Connection, items: list[int]) -> None:
        calls.append(items)
        if len(calls) == 1:
            raise RuntimeError("shop API down")

    warehouse.on_stock_changed(app, flaky)
    _setup(app, 2)
    warehouse.create_document(app, "PZ", "MAIN", [LineInput("SKU-0", 1), LineInput("SKU-1", 1)], post=True)
    _work(app)
    with app.read_transaction() as conn:
        assert stock.count_stock_changes(conn) == 2  # rolled back with the failed attempt
    assert warehouse.report_stock_changes(warehouse.pack_of(app)) == {"items": 2, "batches": 1, "listeners": 1}
    assert calls == [[1, 2], [1, 2]]


def test_a_refused_posting_queues_no_job(app: Conveyor) -> None:
    _setup(app, 1)
    with pytest.raises(warehouse.InsufficientStockError):
        warehouse.create_document(app, "WZ", "MAIN", [LineInput("SKU-0", 1)], post=True)
    assert _jobs(app) == []
    assert warehouse.list_documents(app) == []  # the draft went with the refused posting
