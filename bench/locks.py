"""Named locks: acquire + release pairs per second.

Workload: ``app.lock(key, ttl=60)`` acquired then released in a loop (two short transactions a pair: the
acquire upsert and the owner-checked delete), for ``--seconds`` seconds each: first from one thread on
one key, then from 4 threads each on its own key (distinct keys: this measures how the database
serialises lock writes, not contention for one lock — on SQLite every write takes the one database
write lock, on PostgreSQL only the row's). Each backend runs on a scratch database, created and dropped
by this script. A short warm-up (pool connections, prepared statements) is not counted.

Machine: 2 cores, 24 GiB, PostgreSQL 15 on loopback (synchronous_commit on: every pair is two WAL
flushes), SQLite in WAL mode on local disk. Run: ``python bench/locks.py [--backend sqlite|postgres]
[--seconds 3]``. One figure per line, figure last.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import scratch_database

from conveyor import Conveyor

THREADS = 4


def pairs_per_second(app: Conveyor, threads: int, seconds: float) -> float:
    """Acquire+release pairs per second summed over ``threads`` threads, each on its own key."""
    counts = [0] * threads
    start = threading.Barrier(threads + 1)
    stop_at = 0.0

    def loop(i: int) -> None:
        lock = app.lock(f"bench:{i}", ttl=60)
        lock.acquire()  # warm-up: this thread's pooled connection
        lock.release()
        start.wait()
        n = 0
        while time.perf_counter() < stop_at:
            lock.acquire()
            lock.release()
            n += 1
        counts[i] = n

    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for t in workers:
        t.start()
    t0 = time.perf_counter()
    stop_at = t0 + seconds  # the threads read it once past the barrier
    start.wait()
    for t in workers:
        t.join()
    return sum(counts) / (time.perf_counter() - t0)


def run(backend: str, seconds: float) -> None:
    with scratch_database(backend) as url:
        app = Conveyor(url)
        app.migrate()
        try:
            single = pairs_per_second(app, 1, seconds)
            print(f"lock acquire+release ({backend}, 1 thread): {single:.0f} pairs/s", flush=True)
            many = pairs_per_second(app, THREADS, seconds)
            print(f"lock acquire+release ({backend}, {THREADS} threads, distinct keys): {many:.0f} pairs/s", flush=True)
        finally:
            app.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--seconds", type=float, default=3.0, help="measuring time per figure")
    a = ap.parse_args()
    for backend in ["sqlite", "postgres"] if a.backend == "both" else [a.backend]:
        run(backend, a.seconds)


if __name__ == "__main__":
    main()
