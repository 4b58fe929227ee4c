"""Stock document posting: document lines posted per second on PostgreSQL, 4 concurrent posters.

Workload: a catalogue of 200 items in 2 warehouses, stocked with plenty of each. 4 processes (real
processes, each with its own application and connection) post documents of 20 lines for ``--seconds``
seconds: receipts (PZ), issues (WZ) and transfers (MM) in a fixed random mix, each line a random item from
the same 200, so posters contend for the same stock rows all the time. Every document is created and posted
in one transaction through the public action (``warehouse.create_document(..., post=True)``): the draft
and its lines, the stock rows locked in key order, the totals, the ledger, the stock-change outbox, the
document's number and the debounced stock-change job. A short warm-up per process is not counted. At the
end ``stock verify`` must find no difference, or the run fails.

Machine: 2 cores, 24 GiB, PostgreSQL 15 on loopback (synchronous_commit on: every posting is one WAL flush).
Run: ``python bench/documents.py [--seconds 10] [--posters 4] [--lines 20]``. One figure per line, figure last.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import scratch_database

from conveyor import Conveyor
from conveyor.commerce import warehouse
from conveyor.commerce.store.documents import LineInput

ITEMS = 200
WAREHOUSES = ("MAIN", "BRNO")
STOCK = 10_000_000
WARMUP = 5


def poster(url: str, seed: int, lines: int, start_at: float, stop_at: float, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """Post documents until ``stop_at``; put (documents, lines) posted after ``start_at`` on ``out``."""
    rng = random.Random(seed)
    app = Conveyor(url)
    warehouse.install(app)
    skus = [f"SKU-{n:04d}" for n in range(ITEMS)]

    def post_one() -> None:
        kind = rng.choice(("PZ", "WZ", "WZ", "MM"))
        source = rng.choice(WAREHOUSES)
        target = WAREHOUSES[1] if source == WAREHOUSES[0] else WAREHOUSES[0]
        warehouse.create_document(
            app, kind, source, [LineInput(sku, rng.randint(1, 5)) for sku in rng.sample(skus, lines)],
            target_warehouse=target if kind == "MM" else None, post=True,
        )  # fmt: skip

    for _ in range(WARMUP):
        post_one()
    while time.time() < start_at:
        time.sleep(0.01)
    documents = 0
    while time.time() < stop_at:
        post_one()
        documents += 1
    app.close()
    out.put((documents, documents * lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--posters", type=int, default=4)
    parser.add_argument("--lines", type=int, default=20)
    args = parser.parse_args()

    with scratch_database("postgres") as url:
        app = Conveyor(url)
        warehouse.install(app)
        app.migrate()
        for n in range(ITEMS):
            warehouse.add_item(app, f"SKU-{n:04d}", f"Item {n}")
        for code in WAREHOUSES:
            warehouse.add_warehouse(app, code)
            warehouse.create_document(
                app, "PZ", code, [LineInput(f"SKU-{n:04d}", STOCK) for n in range(ITEMS)], post=True
            )
        app.close()

        context = multiprocessing.get_context("fork")
        out = context.Queue()
        start_at = time.time() + 3.0  # every poster is connected and warmed up before the clock starts
        stop_at = start_at + args.seconds
        procs = [
            context.Process(target=poster, args=(url, seed, args.lines, start_at, stop_at, out))
            for seed in range(args.posters)
        ]
        for p in procs:
            p.start()
        results = [out.get(timeout=args.seconds + 120) for _ in procs]
        for p in procs:
            p.join()

        app = Conveyor(url)
        differences = warehouse.verify_stock(app)
        app.close()
        if differences:
            raise SystemExit(f"stock verify found {len(differences)} difference(s): {differences[0]}")

    documents = sum(d for d, _ in results)
    lines = sum(n for _, n in results)
    print(f"posters: {args.posters}, lines per document: {args.lines}, seconds: {args.seconds:g}")
    print(f"documents/s: {documents / args.seconds:,.0f}")
    print(f"lines/s: {lines / args.seconds:,.0f}")


if __name__ == "__main__":
    main()
