"""Engine throughput: enqueue (single and bulk), processing of no-op jobs, and enqueue→start latency.

Workload: a no-op task (``--body incr``: one Redis ``INCR`` round trip, ``bench/peers/probe.py``'s, the same
code every peer's task runs in ``bench/peers.py``). ``--jobs`` jobs are bulk-enqueued in calls of
``--bulk-size`` (1,000: timed as "bulk small") and ``--jobs`` more in one call ("bulk"); all of them are
processed by a worker with ``--processes`` child processes (default 2) × ``--concurrency`` threads;
single enqueue is timed over ``min(--jobs, 5000)`` calls from one thread; latency is measured over 200
single jobs sent one at a time to an idle worker (1 process), from the enqueue call to the job's
``attempted_at`` (same machine clock).
``--preload N`` first puts N completed jobs and N waiting jobs (in another queue) in the table, to show
that a big table does not slow the hot path (compare with a run without it). On PostgreSQL, single enqueue
is also timed with ``postgres_synchronous_commit=False`` (commits do not wait for the WAL fsync; see
``conveyor/config.py`` for what that risks), labelled as such, and against its floor: the same number of
bare ``INSERT INTO conveyor_jobs ... ; COMMIT`` statements (autocommit, same columns, same durability
settings) on the very connection ``enqueue`` uses, printed as a ratio.

Processing rate = completed jobs / (last finished_at − first attempted_at), read from the database, so
process start-up is not counted.

``--backlog N[,N…]`` measures something else, once per N: N jobs of a no-op task with one int argument wait
in the *same* queue the worker fetches from (where every fetch has to find the head of the queue; issue
#18), and the worker processes the first ``--window`` of them (default 20,000, at most N; fewer than N, so
the backlog stays near N throughout) and is then stopped with SIGTERM. Rate as above, over the completed
jobs. Each size gets its own scratch database; a run that has not finished its window within
``--deadline`` seconds is killed and reported as such, so 1M-job runs always end.

Machine: 2 cores, 24 GiB, PostgreSQL 15 on loopback, SQLite in WAL mode on local disk.
Run: ``python bench/throughput.py --backend {sqlite,postgres} --jobs 20000 [--json]``, or
``python bench/throughput.py --backend sqlite --backlog 10000,100000,1000000``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))

from _common import percentile, scratch_database
from probe import incr
from sqlalchemy import and_, func, select, text

from conveyor import Conveyor
from conveyor.store.schema import FINISHED_WHERE
from conveyor.store.schema import jobs as J


def build_app(url: str, body: str = "noop", **settings: object) -> Conveyor:
    app = Conveyor(url, **settings)

    if body == "incr":

        @app.task(queue="bench", name="noop")
        def noop_incr() -> None:
            incr()

    else:

        @app.task(queue="bench")
        def noop() -> None:
            return None

    @app.task(queue="bench")
    def noop_int(n: int) -> None:
        return None

    return app


def preload(app: Conveyor, n: int) -> None:
    """n completed jobs and n waiting ones (queue 'backlog'), inserted in bulk."""
    batch = 50_000
    done = 0
    while done < n:
        k = min(batch, n - done)
        app.enqueue_many([{"task": "noop", "queue": "backlog"} for _ in range(k)], batch_size=batch)
        app.enqueue_many([{"task": "noop", "queue": "history"} for _ in range(k)], batch_size=batch)
        done += k
    with app.driver.begin() as c:
        c.execute(
            text("UPDATE conveyor_jobs SET state = 'completed', finished_at = created_at WHERE queue = 'history'")
        )
    if app.driver.name == "postgresql":
        with app.driver.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE conveyor_jobs"))
            # Start timing from a steady state, not in the middle of flushing 2N rows' WAL to disk.
            c.execute(text("CHECKPOINT"))


def settle(app: Conveyor) -> None:
    """Fresh statistics, and on PostgreSQL start timing from a steady state, not in the middle of flushing
    the inserted rows' WAL to disk."""
    if app.driver.name == "postgresql":
        with app.driver.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE conveyor_jobs"))
            c.execute(text("CHECKPOINT"))
    else:
        with app.driver.begin() as c:
            c.execute(text("ANALYZE"))


BARE_INSERT = """
INSERT INTO conveyor_jobs (queue, task, args, kwargs, state, priority, max_attempts, created_at, scheduled_at)
VALUES ('bench', 'noop', '[]', '{}', 'available', 0, 3, %s, %s)
"""


ROUND = 250


def bare_inserts(app: Conveyor, n: int) -> float:
    """Seconds taken by ``n`` bare INSERTs, each its own (autocommit) transaction, on the connection
    ``enqueue`` uses (so the same durability settings)."""
    conn = app._connection()
    t = time.perf_counter()
    for _ in range(n):
        now = time.time()
        conn.execute(BARE_INSERT, (now, now))
    return time.perf_counter() - t


def run_worker(url: str, processes: int, concurrency: int, stop_when_empty: bool, body: str = "noop") -> None:
    app = build_app(url, body)
    app.work(["bench"], processes=processes, concurrency=concurrency, stop_when_empty=stop_when_empty, sleep=1.0)


def measure(
    backend: str, jobs: int, processes: int, concurrency: int, preload_n: int, body: str = "noop", bulk_size: int = 1000
) -> dict[str, object]:
    with scratch_database(backend) as url:
        app = build_app(url, body)
        app.migrate()
        if preload_n:
            print(f"preloading {preload_n} completed + {preload_n} waiting jobs…", file=sys.stderr)
            preload(app, preload_n)
        noop = app.tasks["noop"]

        n_single = min(jobs, 5000)
        # On PostgreSQL, enqueue and the bare INSERT floor alternate in rounds of ROUND calls on the same
        # connection, so both see the same disk (a commit waits for its WAL fsync) and the ratio is fair.
        postgres = backend == "postgres"
        spent = bare_spent = 0.0
        for start in range(0, n_single, ROUND):
            k = min(ROUND, n_single - start)
            t = time.perf_counter()
            for _ in range(k):
                noop.enqueue()
            spent += time.perf_counter() - t
            if postgres:
                bare_spent += bare_inserts(app, k)
        single = n_single / spent
        bare = n_single / bare_spent if postgres else None

        relaxed = None
        if postgres:
            fast = build_app(url, body, postgres_synchronous_commit=False)
            fast_noop = fast.tasks["noop"]
            t = time.perf_counter()
            for _ in range(n_single):
                fast_noop.enqueue()
            relaxed = n_single / (time.perf_counter() - t)
            fast.close()
            n_single *= 3

        specs = [noop.job() for _ in range(jobs)]
        t = time.perf_counter()
        for start in range(0, jobs, bulk_size):
            app.enqueue_many(specs[start : start + bulk_size])
        bulk_small = jobs / (time.perf_counter() - t)
        specs = [noop.job() for _ in range(jobs)]
        t = time.perf_counter()
        app.enqueue_many(specs)
        bulk = jobs / (time.perf_counter() - t)
        jobs *= 2

        ctx = multiprocessing.get_context("fork")
        p = ctx.Process(target=run_worker, args=(url, processes, concurrency, True, body))
        p.start()
        p.join(600)
        if p.is_alive():
            p.kill()
            raise SystemExit("worker did not drain the queue within 600 s")
        with app.driver.begin() as c:
            first, last, done = c.execute(
                select(func.min(J.c.attempted_at), func.max(J.c.finished_at), func.count()).where(
                    J.c.queue == "bench", J.c.state == "completed"
                )
            ).one()
        if done != jobs + n_single:
            raise SystemExit(f"expected {jobs + n_single} completed jobs, found {done}")
        processed = done / (last - first)

        # Latency: an idle single-process worker, one job at a time.
        p = ctx.Process(target=run_worker, args=(url, 1, concurrency, False, body))
        p.start()
        time.sleep(1.5)
        lat: list[float] = []
        for _ in range(200):
            sent = time.time()
            job_id = noop.enqueue()
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                started = app.driver.get_job(job_id).attempted_at
                if started:
                    lat.append((started - sent) * 1000)
                    break
                time.sleep(0.002)
            time.sleep(0.01)
        p.terminate()
        p.join(30)
        app.close()
    return {
        "backend": backend,
        "body": body,
        "jobs": jobs,
        "enqueue_single_per_s": round(single),
        "enqueue_single_async_commit_per_s": None if relaxed is None else round(relaxed),
        "bare_insert_commit_per_s": None if bare is None else round(bare),
        "enqueue_bulk_per_s": round(bulk),
        "enqueue_bulk_small_per_s": round(bulk_small),
        "bulk_size": bulk_size,
        "processed_per_s": round(processed),
        "latency_p50_ms": round(percentile(lat, 50), 2),
        "latency_p95_ms": round(percentile(lat, 95), 2),
    }


def measure_backlog(
    backend: str, backlog: int, window: int, processes: int, concurrency: int, deadline: float
) -> dict[str, object]:
    """Jobs/s while ``backlog`` jobs wait in the queue being worked (see the module docstring)."""
    window = min(window, backlog)
    with scratch_database(backend) as url:
        app = build_app(url)
        app.migrate()
        batch = 50_000
        for start in range(0, backlog, batch):
            k = min(batch, backlog - start)
            app.enqueue_many([{"task": "noop_int", "args": [start + i]} for i in range(k)], batch_size=batch)
        settle(app)

        # FINISHED_WHERE lets SQLite count through the finished index: polling must not scan the backlog.
        done_cond = and_(J.c.state == "completed", text(FINISHED_WHERE))

        def count_completed() -> int:
            with app.driver.read() as c:
                return int(c.execute(select(func.count()).where(done_cond)).scalar_one())

        ctx = multiprocessing.get_context("fork")
        p = ctx.Process(target=run_worker, args=(url, processes, concurrency, True))
        p.start()
        ends = time.monotonic() + deadline
        while count_completed() < window and p.is_alive() and time.monotonic() < ends:
            time.sleep(0.5)
        timed_out = count_completed() < window
        p.terminate()  # graceful: the jobs it holds finish (or are released) within the shutdown grace
        p.join(60)
        if p.is_alive():
            p.kill()
            p.join()
        with app.driver.read() as c:
            first, last, done = c.execute(
                select(func.min(J.c.attempted_at), func.max(J.c.finished_at), func.count()).where(done_cond)
            ).one()
        app.close()
    rate = round(done / (last - first)) if done and first is not None and last is not None and last > first else 0
    return {
        "backend": backend,
        "backlog": backlog,
        "window": window,
        "completed": done,
        "timed_out": timed_out,
        "processed_per_s": rate,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--jobs", type=int, default=20_000)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--preload", type=int, default=0)
    ap.add_argument("--body", choices=["noop", "incr"], default="noop", help="the task body (see the header)")
    ap.add_argument("--bulk-size", type=int, default=1000, help="jobs per enqueue_many call for 'bulk small'")
    ap.add_argument(
        "--backlog",
        default="",
        help="comma-separated waiting-job counts (e.g. 10000,100000,1000000): measure jobs/s with that many "
        "jobs waiting in the worked queue, instead of the default figures",
    )
    ap.add_argument("--window", type=int, default=20_000, help="with --backlog: jobs processed per size")
    ap.add_argument("--deadline", type=float, default=600.0, help="with --backlog: seconds before a run is killed")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    a = ap.parse_args()
    if a.backlog:
        sizes = [int(n.replace("_", "")) for n in a.backlog.split(",")]
        results = []
        for n in sizes:
            print(f"{a.backend}: enqueueing {n} jobs in the worked queue…", file=sys.stderr)
            results.append(measure_backlog(a.backend, n, a.window, a.processes, a.concurrency, a.deadline))
        if a.json:
            print(json.dumps(results))
            return
        for r in results:
            late = f" (deadline hit after {r['completed']} jobs)" if r["timed_out"] else ""
            print(
                f"processed no-op ({a.backend}, {r['backlog']} waiting in the same queue, {a.processes} processes, "
                f"{r['window']} jobs): {r['processed_per_s']} jobs/s{late}"
            )
        return
    r = measure(a.backend, a.jobs, a.processes, a.concurrency, a.preload, a.body, a.bulk_size)
    if a.json:
        print(json.dumps(r))
        return
    b = f"{a.backend}, body {a.body}{', preload=' + str(a.preload) if a.preload else ''}"
    print(f"enqueue single ({b}): {r['enqueue_single_per_s']} jobs/s")
    if r["enqueue_single_async_commit_per_s"] is not None:
        print(
            f"enqueue single ({b}, postgres_synchronous_commit=False): {r['enqueue_single_async_commit_per_s']} jobs/s"
        )
    if r["bare_insert_commit_per_s"]:
        floor = r["bare_insert_commit_per_s"]
        print(f"bare INSERT+COMMIT loop, same connection ({b}): {floor} rows/s")
        print(f"ratio enqueue single / bare INSERT ({b}): {r['enqueue_single_per_s'] / floor:.2f}x")  # type: ignore[operator]
    print(f"enqueue bulk, {a.bulk_size} per call ({b}): {r['enqueue_bulk_small_per_s']} jobs/s")
    print(f"enqueue bulk, {a.jobs} per call ({b}): {r['enqueue_bulk_per_s']} jobs/s")
    print(f"latency enqueue->start p50 ({b}): {r['latency_p50_ms']} ms")
    print(f"latency enqueue->start p95 ({b}): {r['latency_p95_ms']} ms")
    print(f"processed ({b}, {a.processes} processes): {r['processed_per_s']} jobs/s")


if __name__ == "__main__":
    main()
