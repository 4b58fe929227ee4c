"""Supplier feed import end to end: a large cp1250 CSV feed from the simulator, downloaded, parsed, chunked and
upserted by 2 worker processes; then the unchanged re-import (HTTP 304) and identical content without ETag.

Workload: ``conveyor sim feeds --items N`` (default 1,000,000 ≈ 90 MB CSV, cp1250, ``;``, decimal comma) in
its own process on loopback. Two worker processes (this script with ``--worker``: ``app.work(["import",
"integrations"])``, 4 threads each) run the run job, the chunk jobs (500 rows each) and the linking job; this
process only queues the run and waits for its execution to end, on a scratch database created and dropped here.

Figures:

1. **Import**: seconds from ``request_import`` to the run's completion (download, parse + spool, chunk jobs,
   finish), and rows/s. Targets: < 60 s on PostgreSQL, < 90 s on SQLite.
2. **Peak RSS of every process** (``VmHWM`` from ``/proc/<pid>/status``, read just before each exits):
   workers, simulator and this process. Target: < 200 MB each.
3. **Unchanged re-import**: seconds until the run ends as ``unchanged`` (conditional GET → 304). Target < 1 s.
4. **Identical content without ETag**: the task's ETag/Last-Modified are forgotten (as if the server never sent
   them), so the whole feed is downloaded again; its SHA-256 equals the last run's: rows written (supplier items
   whose ``updated_at`` moved, plus the execution's created/updated). Target: 0.

Machine: 2 vCPUs (Intel Xeon), 24 GiB, PostgreSQL 15 on loopback, SQLite in WAL mode on local disk; the
simulator and the 2 workers share the 2 vCPUs. Run: ``python bench/feeds.py --backend {sqlite,postgres}
[--items 1000000]``. Prints one figure per line.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import scratch_database, simulator_process
from sqlalchemy import func, select

from conveyor import Conveyor
from conveyor.commerce.feeds import pipelines
from conveyor.commerce.store import feeds as feed_store
from conveyor.commerce.store.schema import supplier_items

ROOT = Path(__file__).resolve().parent.parent
MAPPING = {
    "sku": "kód",
    "ean": "ean",
    "name": "název",
    "stock_quantity": "skladem",
    "delivery_days": "dodací_lhůta",
    "purchase_price": "nákupní_cena",
}


def peak_rss_mb(pid: int) -> float:
    """``VmHWM`` (peak resident set) of a live process, in MB."""
    try:
        match = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    except OSError:
        return float("nan")
    return int(match.group(1)) / 1024 if match else float("nan")


@contextlib.contextmanager
def simulator(items: int) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``conveyor sim feeds --items N`` in a child process: (base URL, process)."""
    with simulator_process("feeds", "--items", str(items), "--seed", "7", startup=120) as started:
        yield started


def make_app(url: str, data_dir: str) -> Conveyor:
    app = Conveyor(url)
    pipelines.install(app, data_dir=data_dir, schedules=False)
    return app


def worker(url: str, data_dir: str) -> None:
    """A worker process: the feed queues, 4 threads, until terminated."""
    make_app(url, data_dir).work(["import", "integrations"], processes=0, concurrency=4)


@contextlib.contextmanager
def workers(url: str, data_dir: str, n: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    cmd = [sys.executable, __file__, "--worker", url, data_dir]
    children = [subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL) for _ in range(n)]
    try:
        yield children
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()


def wait_for(app: Conveyor, execution_id: int, timeout: float = 900) -> pipelines.RunView:
    deadline = time.monotonic() + timeout
    while True:
        view = pipelines.get_run(app, execution_id)
        if view.execution.status.value in ("completed", "error"):
            return view
        if time.monotonic() > deadline:
            raise RuntimeError(f"run {execution_id} did not finish within {timeout:.0f} s")
        time.sleep(0.05)


def run_bench(backend: str, items: int) -> None:
    with scratch_database(backend) as url, tempfile.TemporaryDirectory(prefix="feeds-bench-") as data_dir:
        app = make_app(url, data_dir)
        app.migrate()
        with simulator(items) as (base, sim):
            pipelines.add_supplier(app, "velkoobchod", "Velkoobchod")
            _, task = pipelines.add_feed(
                app, "velkoobchod", "stock", source=f"{base}/feeds/velkoobchod/stock.csv", mappings=MAPPING,
                schedule=None,
            )  # fmt: skip
            with workers(url, data_dir, 2) as children:
                started = time.perf_counter()
                [execution_id] = pipelines.request_import(app, "stock")
                first = wait_for(app, execution_id)
                seconds = time.perf_counter() - started
                if first.execution.status.value != "completed":
                    raise RuntimeError(f"the import failed: {first.execution.error}")
                rows = first.execution.counts.read
                print(f"backend: {backend}, items: {items:,}, chunks: {first.run.chunks}")
                created = first.execution.counts.created
                print(f"import: {seconds:.1f} s, {rows / seconds:,.0f} rows/s (created {created:,})")
                e = first.execution
                if e.job_id is not None and e.started_at is not None and e.finished_at is not None:
                    run_job = app.get_job(e.job_id)
                    if run_job.finished_at is not None:
                        parse = run_job.finished_at - e.started_at
                        print(f"  of which download + parse + spool: {parse:.1f} s, chunks + finish: "
                              f"{e.finished_at - run_job.finished_at:.1f} s")  # fmt: skip

                started = time.perf_counter()
                [again] = pipelines.request_import(app, "stock")
                unchanged = wait_for(app, again)
                print(f"re-import unchanged: {unchanged.outcome} in {time.perf_counter() - started:.2f} s")

                with app.transaction() as conn:
                    feed_store.save_validators(conn, task.id, etag=None, last_modified=None, sha256=first.run.sha256)
                mark = time.time()
                time.sleep(0.01)
                [third] = pipelines.request_import(app, "stock")
                identical = wait_for(app, third)
                with app.read_transaction() as conn:
                    moved = conn.execute(
                        select(func.count()).select_from(supplier_items).where(supplier_items.c.updated_at > mark)
                    ).scalar_one()
                written = moved + identical.execution.counts.created + identical.execution.counts.updated
                print(f"re-import identical without ETag: {identical.outcome}, rows written: {written}")
                for n, child in enumerate(children, 1):
                    print(f"peak RSS worker {n}: {peak_rss_mb(child.pid):.0f} MB")
            print(f"peak RSS simulator: {peak_rss_mb(sim.pid):.0f} MB")
        print(f"peak RSS this process: {peak_rss_mb(os.getpid()):.0f} MB")
        app.close()
        print(f"rows/s: {rows / seconds:,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="postgres")
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--worker", nargs=2, metavar=("URL", "DATA_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    run_bench(args.backend, args.items)


if __name__ == "__main__":
    main()
