"""Shoptet pipelines: snapshot import throughput and memory, incremental sync against Shoptet's limits.

Workloads, each against the Shoptet simulator running in its own process (``conveyor sim shoptet``) on
loopback, so the importing process's memory is its own; the pipelines run in this process through a real
Conveyor worker (``app.work(processes=0)``) on a scratch database that is created and dropped here:

1. **Snapshot import** (``--part snapshot``): a shop of ``--orders`` orders (default 100,000; 1–10 items
   each, about 4.2 on average: ~420,000 items), 2,000 products, 5,000 customers. ``request_snapshot(…,
   "orders")`` end to end; the figures are for the import step — verify the whole gzip file, count its lines,
   import 500 orders per transaction — timed from the file's download to the execution's end. Peak RSS is
   the process's ``ru_maxrss``; "RSS at 10k / at the end" are resident sizes (``/proc/self/status`` VmRSS)
   sampled every 0.1 s next to the execution's imported count: flat means memory does not grow with the
   file. Targets: under 60 s, peak RSS under 250 MB, flat.
2. **Incremental sync** (``--part incremental``): a shop of 10,000 orders; ``POST /_sim/advance`` changes
   ``--changed`` (2,000) of them; ``orders.fetch_new`` then reads the window (40 list pages) and every
   order's detail (3 at a time), with the simulator adding 50 ms to every API request and allowing
   3 connections per token — so the bound is 3 / 50 ms = 60 requests/s. Target: ≥ 90 % of it and zero 429s.
   The simulator adds its own few milliseconds to each request (HTTP parsing, its middleware, building the
   order), so the rate bare httpx reaches on 3 connections against the same details is printed first as
   the ceiling this machine allows; the pipeline's rate is given against both.
   The simulator's default leaky bucket (200 drops leaking 10/s) would hold any client to ~10 requests/s
   after the first 200, far below that bound, so this run gives it a bucket that does not bind
   (1,000,000 drops, leaking 1,000,000/s): it measures the connection limit and the pipeline, not the bucket.
3. **Re-run** (``--part incremental``, after 2): the cursor is put back and the same window read again:
   rows written to the synced tables (orders, items, customers, products, variants) must be 0.

Machine: 2 vCPUs (Intel Xeon), 24 GiB, PostgreSQL 15 on loopback (synchronous_commit on), SQLite in WAL
mode on local disk; the simulator shares the 2 vCPUs. Run: ``python bench/shoptet.py --backend
{sqlite,postgres} [--part snapshot|incremental|all] [--orders 100000] [--changed 2000]``. Prints one figure
per line.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from _common import scratch_database, simulator_process
from sqlalchemy import event, func, select

from conveyor import Conveyor
from conveyor.commerce import store
from conveyor.commerce.shoptet import pipelines
from conveyor.commerce.shoptet.simulator import DEFAULT_PRIVATE_TOKEN
from conveyor.commerce.store import generate_key
from conveyor.commerce.store.schema import customers, order_items, orders, products, variants

NO_BUCKET = ["--bucket", "1000000", "--leak", "1000000/s"]
SYNCED_TABLES = {t.name for t in (orders, order_items, customers, products, variants)}


# ---------------------------------------------------------------------------------------------- plumbing
@contextlib.contextmanager
def simulator(*args: str) -> Iterator[str]:
    """``conveyor sim shoptet ARGS`` in a child process; yields its base URL once it answers."""
    with simulator_process("shoptet", *args) as (base, _):
        yield base


def sim_stats(base: str) -> dict[str, Any]:
    return dict(httpx.get(base + "/_sim/stats", timeout=10).json())


def rss_mb() -> float:
    """Resident set size now, in MB (Linux)."""
    match = re.search(r"VmRSS:\s+(\d+) kB", Path("/proc/self/status").read_text())
    return int(match.group(1)) / 1024 if match else float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def setup(url: str, data_dir: str, **options: Any) -> Conveyor:
    app = Conveyor(url)
    pipelines.install(app, data_dir=data_dir, secret_key=generate_key(), **options)
    app.migrate()
    return app


def work(app: Conveyor) -> None:
    app.work(["default"], processes=0, concurrency=2, stop_when_empty=True, sleep=0.05)


class Sampler:
    """Samples (orders imported so far, RSS) every 0.1 s while an execution runs."""

    def __init__(self, app: Conveyor, execution_id: int) -> None:
        self.app, self.execution_id = app, execution_id
        self.samples: list[tuple[int, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _sample(self) -> None:
        execution = pipelines.get_execution(self.app, self.execution_id)
        self.samples.append((execution.counts.read, rss_mb()))

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self._sample()

    def rss_at(self, imported: int) -> float:
        return next((rss for n, rss in self.samples if n >= imported), float("nan"))


class DomainWrites:
    """Rows written to the synced tables while listening."""

    def __init__(self, app: Conveyor) -> None:
        self.engine, self.rows = app.driver.engine, 0

    def __call__(self, conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        words = statement.split()
        verb = words[0].upper() if words else ""
        target = words[2] if verb in ("INSERT", "DELETE") else words[1] if verb == "UPDATE" else ""
        if target.strip('"') in SYNCED_TABLES:
            self.rows += len(params) if many else 1

    def __enter__(self) -> DomainWrites:
        event.listen(self.engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self)


def ceiling(base: str, codes: list[str]) -> float:
    """Requests/s the simulator serves to bare httpx on 3 connections (3 threads, the same order details,
    nothing done with the answers): what any client can reach on this machine, next to the nominal bound."""
    headers = {"Shoptet-Private-Api-Token": DEFAULT_PRIVATE_TOKEN}
    left = iter(codes)
    lock = threading.Lock()
    with httpx.Client(base_url=base, headers=headers, limits=httpx.Limits(max_connections=3)) as http:

        def fetch() -> None:
            while True:
                with lock:
                    code = next(left, None)
                if code is None:
                    return
                http.get(f"/api/orders/{code}").raise_for_status()

        threads = [threading.Thread(target=fetch) for _ in range(3)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return len(codes) / (time.perf_counter() - started)


def register_job_finished(base: str) -> None:
    """Shoptet runs snapshots only with a job:finished webhook; nobody listens here, so the pipeline polls."""
    headers = {"Shoptet-Private-Api-Token": DEFAULT_PRIVATE_TOKEN}
    body = {"data": [{"event": "job:finished", "url": "http://127.0.0.1:9/unused"}]}
    httpx.post(base + "/api/webhooks", headers=headers, json=body, timeout=10).raise_for_status()


# ---------------------------------------------------------------------------------------------- workloads
def bench_snapshot(backend: str, n_orders: int) -> None:
    sim_args = ["--orders", str(n_orders), "--products", "2000", "--customers", "5000", "--job-delay", "0", *NO_BUCKET]
    with simulator(*sim_args) as base, scratch_database(backend) as url, tempfile.TemporaryDirectory() as data_dir:
        register_job_finished(base)
        app = setup(url, data_dir, snapshot_first_poll=2.0)
        shop = pipelines.add_shop(app, "bench", base_url=base, token=DEFAULT_PRIVATE_TOKEN)
        execution_id = pipelines.request_snapshot(app, shop.id, "orders")
        rss_before = rss_mb()
        with Sampler(app, execution_id) as sampler:
            work(app)
        execution = pipelines.get_execution(app, execution_id)
        file = pipelines.snapshot_file_of(app, execution_id)
        assert execution.status is store.ExecutionStatus.COMPLETED, execution.error
        assert file is not None and execution.finished_at is not None and execution.started_at is not None
        with app.driver.read() as conn:
            items = conn.execute(select(func.count()).select_from(order_items)).scalar_one()
        import_seconds = execution.finished_at - file.downloaded_at
        c = execution.counts
        print(f"backend: {backend}")
        print(f"snapshot file: {file.size / 1e6:.1f} MB gzipped, {c.read} orders")
        print(f"orders created: {c.created} (failed {c.failed}), order items: {items:,}")
        print(
            f"whole pipeline (request, build, download, import): {execution.finished_at - execution.started_at:.1f} s"
        )
        print(f"RSS before the run: {rss_before:.0f} MB")
        for mark in (10_000, c.read // 2):
            print(f"RSS at {mark:,} orders imported: {sampler.rss_at(mark):.0f} MB")
        print(f"RSS at the end ({c.read:,} orders): {sampler.samples[-1][1]:.0f} MB")
        print(f"peak RSS: {peak_rss_mb():.0f} MB (target < 250 MB)")
        print(f"import rate: {c.read / import_seconds:,.0f} orders/s")
        print(f"import wall time: {import_seconds:.1f} s (target < 60 s)")
        app.close()


def bench_incremental(backend: str, changed: int) -> None:
    sim_args = ["--orders", "10000", "--products", "2000", "--customers", "5000", "--latency", "50ms",
                "--concurrency", "3", *NO_BUCKET]  # fmt: skip
    with simulator(*sim_args) as base, scratch_database(backend) as url, tempfile.TemporaryDirectory() as data_dir:
        app = setup(url, data_dir)
        shop = pipelines.add_shop(app, "bench", base_url=base, token=DEFAULT_PRIVATE_TOKEN)
        advanced = httpx.post(base + "/_sim/advance", params={"changed_orders": changed}, timeout=60).json()
        reachable = ceiling(base, advanced["changed"][:600])
        window_from = datetime.fromisoformat(advanced["time"]).isoformat()
        with app.driver.begin() as conn:
            store.set_cursor(conn, shop.id, "orders.change_time", window_from)

        before = sim_stats(base)
        job_id = pipelines.run_pipeline(app, shop.id, "orders.fetch_new")
        work(app)
        after = sim_stats(base)
        execution = next(e for e in pipelines.list_executions(app, shop.id) if e.job_id == job_id)
        assert execution.status is store.ExecutionStatus.COMPLETED, execution.error
        assert execution.finished_at is not None and execution.started_at is not None
        seconds = execution.finished_at - execution.started_at
        requests = after["requests"] - before["requests"] - 1  # not the second /_sim/stats
        rejected = int(after["responses"].get("429", 0)) - int(before["responses"].get("429", 0))
        bound = 3 / 0.050
        c = execution.counts
        print(f"backend: {backend}")
        print(f"orders changed: {len(advanced['changed'])}; read {c.read}, updated {c.updated}, created {c.created}")
        print(f"requests: {requests} in {seconds:.1f} s")
        print(f"429 answers: {rejected} (target 0)")
        rate = requests / seconds
        print(f"simulator ceiling (bare httpx, 3 connections, 600 details): {reachable:.1f}/s")
        print(f"request rate: {rate:.1f}/s = {rate / reachable:.0%} of the ceiling")
        print(f"request rate: {rate:.1f}/s = {rate / bound:.0%} of the nominal {bound:.0f}/s bound (target >= 90%)")

        # 3. the same window again
        with app.driver.begin() as conn:
            store.set_cursor(conn, shop.id, "orders.change_time", window_from)
        with DomainWrites(app) as writes:
            again = pipelines.run_pipeline(app, shop.id, "orders.fetch_new")
            work(app)
        rerun = next(e for e in pipelines.list_executions(app, shop.id) if e.job_id == again)
        print(f"re-run of the same window: read {rerun.counts.read}, unchanged {rerun.counts.unchanged}")
        print(f"rows written by the re-run: {writes.rows} (target 0)")
        app.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--part", choices=["snapshot", "incremental", "all"], default="all")
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--changed", type=int, default=2_000)
    args = parser.parse_args()
    if args.part in ("incremental", "all"):
        bench_incremental(args.backend, args.changed)
    if args.part in ("snapshot", "all"):
        bench_snapshot(args.backend, args.orders)


if __name__ == "__main__":
    main()
