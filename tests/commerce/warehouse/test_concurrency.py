"""The issue's must-hold: processes posting documents at once on overlapping items never lose an update, never
deadlock, never take ``available`` below zero where it is not allowed, and the totals always equal the ledger.

Real processes (``fork``), each with its own application and connections, posting receipts, issues and
transfers on the same few items in random order; each reports the net change of the documents it posted,
and the sum of those reports must be exactly the final stock.
"""

from __future__ import annotations

import multiprocessing
import random
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from conveyor import Conveyor
from conveyor.commerce import warehouse
from conveyor.commerce.store import stock
from conveyor.commerce.store.documents import LineInput
from tests.commerce.warehouse.conftest import empty_postgres

ITEMS = [f"SKU-{n}" for n in range(6)]
WAREHOUSES = ("MAIN", "BRNO")
START = 60


def _poster(url: str, seed: int, documents: int, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """Post ``documents`` random documents; put (net change per (sku, warehouse), posted, refused) on the queue."""
    rng = random.Random(seed)
    app = Conveyor(url)
    warehouse.install(app, stock_changed_delay=0)
    net: Counter[tuple[str, str]] = Counter()
    posted = refused = 0
    for _ in range(documents):
        kind = rng.choice(("PZ", "WZ", "WZ", "MM"))
        source = rng.choice(WAREHOUSES)
        target = WAREHOUSES[1] if source == WAREHOUSES[0] else WAREHOUSES[0]
        lines = [(sku, rng.randint(1, 6)) for sku in rng.sample(ITEMS, 3)]
        try:
            warehouse.create_document(
                app, kind, source, [LineInput(s, q) for s, q in lines],
                target_warehouse=target if kind == "MM" else None, post=True,
            )  # fmt: skip
        except warehouse.InsufficientStockError:
            refused += 1
            continue
        posted += 1
        for sku, quantity in lines:
            if kind == "PZ":
                net[(sku, source)] += quantity
            else:
                net[(sku, source)] -= quantity
                if kind == "MM":
                    net[(sku, target)] += quantity
    app.close()
    queue.put((dict(net), posted, refused))


def _run(app: Conveyor, url: str, processes: int, documents: int) -> None:
    for sku in ITEMS:
        warehouse.add_item(app, sku, f"Item {sku}")
    for code in WAREHOUSES:
        warehouse.add_warehouse(app, code)
    warehouse.create_document(app, "PZ", "MAIN", [LineInput(s, START) for s in ITEMS], post=True)
    app.close()  # no pooled connection crosses the fork

    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [context.Process(target=_poster, args=(url, seed, documents, queue)) for seed in range(processes)]
    for w in workers:
        w.start()
    reports = [queue.get(timeout=240) for _ in workers]
    for w in workers:
        w.join(timeout=60)
        assert w.exitcode == 0

    expected: Counter[tuple[str, str]] = Counter({(s, "MAIN"): START for s in ITEMS})
    for net, _, _ in reports:
        expected.update(net)
    posted = sum(r[1] for r in reports)
    refused = sum(r[2] for r in reports)
    assert posted + refused == processes * documents
    assert posted > 0 and refused > 0  # the workload did hit empty shelves, and those postings were refused

    with app.read_transaction() as conn:
        assert stock.verify(conn) == []  # totals equal the ledger
        final = {(r.sku, r.warehouse): r for r in stock.list_stock(conn, limit=1000)}
        docs = warehouse.list_documents(app, doc_type="PZ", limit=1000)
    assert {key: level.on_hand for key, level in final.items()} == {
        key: Decimal(value) for key, value in expected.items() if key in final
    }  # no lost update: every reported posting is in the totals, and nothing else is
    assert all(level.available >= 0 for level in final.values())
    numbers = [d.number for d in docs]
    assert len(numbers) == len(set(numbers))  # numbering never gave a number twice


@pytest.mark.slow
@pytest.mark.postgres
def test_eight_processes_posting_500_documents_each_on_postgres(warehouse_pg_url: str) -> None:
    app = Conveyor(warehouse_pg_url)
    warehouse.install(app, stock_changed_delay=0)
    empty_postgres(app)
    _run(app, warehouse_pg_url, processes=8, documents=500)


@pytest.mark.slow
def test_four_processes_posting_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    app = Conveyor(url)
    warehouse.install(app, stock_changed_delay=0)
    app.migrate()
    _run(app, url, processes=4, documents=100)
