"""Batch bookkeeping: dispatch_chunks enqueue time, and what batch counting adds to processing.

Workload 1 (the issue's figure): ``dispatch_chunks`` of 100,000 items with chunk 250 (400 jobs carrying 250
item ids each), timed from the call to its return (batch row and jobs written in one transaction).
Workload 2: the same no-op chunk jobs processed by a 2-process worker, once as a batch and once as plain
jobs; the overhead is (batch time / plain time - 1). 400 jobs take a fraction of a second, so the overhead
is also measured on ``--jobs`` (default 20,000) chunk jobs, where timing noise is small.
Processing time = last finished_at - first attempted_at, read from the database.
Machine: 2 cores, 24 GiB, PostgreSQL 15 on loopback, SQLite WAL on local disk.
Run: ``python bench/batches.py --backend {sqlite,postgres}``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import scratch_database
from sqlalchemy import func, select, text

from conveyor import Conveyor
from conveyor.store.schema import jobs as J


def build_app(url: str) -> Conveyor:
    app = Conveyor(url)

    @app.task(queue="bench")
    def chunk_noop(items: list[int]) -> None:
        return None

    return app


def _work(url: str) -> None:
    build_app(url).work(["bench"], processes=2, concurrency=4, stop_when_empty=True, sleep=0.2)


def process(app: Conveyor, url: str) -> float:
    p = multiprocessing.get_context("fork").Process(target=_work, args=(url,))
    p.start()
    p.join(600)
    with app.driver.begin() as c:
        first, last = c.execute(
            select(func.min(J.c.attempted_at), func.max(J.c.finished_at)).where(J.c.queue == "bench")
        ).one()
        c.execute(text("DELETE FROM conveyor_jobs"))
    return float(last - first)


def overhead(app: Conveyor, url: str, n_jobs: int, chunk: int, repeat: int) -> tuple[float, float]:
    """Median processing time of plain and batched runs, alternated so neither gets the warmer machine."""
    task = app.tasks["chunk_noop"]
    items = list(range(n_jobs * chunk))
    plain, batched = [], []
    for _ in range(repeat):
        app.enqueue_many([task.job(items[i : i + chunk]) for i in range(0, len(items), chunk)])
        plain.append(process(app, url))
        app.dispatch_chunks(task, items, chunk=chunk, name="bench")
        batched.append(process(app, url))
    return statistics.median(plain), statistics.median(batched)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--jobs", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    with scratch_database(a.backend) as url:
        app = build_app(url)
        app.migrate()
        task = app.tasks["chunk_noop"]
        items = list(range(100_000))
        t = time.perf_counter()
        batch = app.dispatch_chunks(task, items, chunk=250, name="full stock sync")
        dispatch = time.perf_counter() - t
        assert batch.total == 400
        with app.driver.begin() as c:
            c.execute(text("DELETE FROM conveyor_jobs"))
        plain, batched = overhead(app, url, 400, 250, a.repeat)
        plain_n, batched_n = overhead(app, url, a.jobs, 5, a.repeat)
        app.close()
    b = a.backend
    print(f"processing 400 chunk jobs ({b}): plain {plain:.3f}s, batch {batched:.3f}s")
    print(f"processing {a.jobs} chunk jobs ({b}): plain {plain_n:.3f}s, batch {batched_n:.3f}s")
    print(f"batch bookkeeping overhead, 400 jobs ({b}): {100 * (batched / plain - 1):+.1f}%")
    print(f"batch bookkeeping overhead, {a.jobs} jobs ({b}): {100 * (batched_n / plain_n - 1):+.1f}%")
    print(f"dispatch_chunks 100,000 items / chunk 250 ({b}): {dispatch:.3f} s")


if __name__ == "__main__":
    main()
