"""Scheduler benchmark: one tick over a catalog of 10,000 schedules, and the idle cost of ``conveyor scheduler``.

Workload: ``--schedules`` schedules (default 10,000) of one no-op task, crons drawn round-robin from a pool
(``* * * * *``, ``*/5``, ``*/15``, hourly, every two hours, daily, weekly on Monday, monthly on the 1st) in
UTC and whole-hour-offset zones, so that at the benchmark instant (Monday 2025-09-01 00:00 UTC) every
schedule has a slot due. Steps:

1. declare the catalog and run a first tick a minute before the instant (syncs 10,000 rows; nothing due);
2. ``tick_seconds``: one tick at the instant + 1 s, which evaluates every schedule and, in one transaction,
   claims every due slot (a unique row each) and enqueues its job — the figure the issue bounds (< 1 s);
3. ``idle_tick_seconds``: a tick right after, with nothing due;
4. ``idle_cpu_percent``: CPU used by the long-running loop (``run_scheduler``, poll 1 s) over
   ``--idle-seconds`` with nothing due (the issue bounds it at < 1 %).

Run: ``.venv/bin/python bench/scheduler.py --backend sqlite`` and ``--backend postgres`` (PostgreSQL at
``CONVEYOR_BENCH_POSTGRES_URL`` or postgresql://postgres@127.0.0.1:5432/postgres; a scratch database is
created and dropped). Prints one figure per line, ``tick_seconds`` last.
Measured on: a 2-vCPU Linux container, Python 3.11, SQLite 3 (WAL) and PostgreSQL 16 on the same machine.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import scratch_database

from conveyor import Conveyor
from conveyor.engine import clock
from conveyor.scheduler.loop import run_scheduler

INSTANT = datetime(2025, 9, 1, 0, 0, tzinfo=UTC).timestamp()  # a Monday, the 1st of the month
CRONS = ["* * * * *", "*/5 * * * *", "*/15 * * * *", "0 * * * *", "0 */2 * * *", "0 0 * * *", "0 0 * * 1", "0 0 1 * *"]
HOURLY_ZONES = ["UTC", "Asia/Tokyo", "America/New_York", "Europe/Prague"]  # whole-hour offsets


def build(url: str, n: int) -> Conveyor:
    app = Conveyor(url)
    app.migrate()

    @app.task(queue="bench")
    def noop(shop: int = 0) -> None:
        """Does nothing: the benchmark measures scheduling, not work."""

    for i in range(n):
        cron = CRONS[i % len(CRONS)]
        # Crons that fire at minute 0 of every hour are due at the instant in any whole-hour zone;
        # daily/weekly/monthly ones only in UTC.
        zone = HOURLY_ZONES[(i // len(CRONS)) % len(HOURLY_ZONES)] if i % len(CRONS) < 5 else "UTC"
        app.schedule(f"bench.{i:05d}", task=noop, cron=cron, timezone=zone, params={"shop": i})
    return app


def idle_cpu(app: Conveyor, seconds: float) -> float:
    stop = threading.Event()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    timer = threading.Timer(seconds, stop.set)
    timer.start()
    run_scheduler(app.schedules, stop, poll=1.0)
    timer.cancel()
    return 100.0 * (time.process_time() - cpu0) / (time.perf_counter() - wall0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--schedules", type=int, default=10_000)
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    args = parser.parse_args()

    with scratch_database(args.backend) as url:
        app = build(url, args.schedules)
        clock.set_clock(lambda: INSTANT - 60)
        t = time.perf_counter()
        app.schedules.tick()
        sync_s = time.perf_counter() - t

        clock.set_clock(lambda: INSTANT + 1)
        t = time.perf_counter()
        report = app.schedules.tick()
        tick_s = time.perf_counter() - t

        clock.set_clock(lambda: INSTANT + 2)
        t = time.perf_counter()
        app.schedules.tick()
        idle_tick_s = time.perf_counter() - t

        cpu = idle_cpu(app, args.idle_seconds)
        app.close()

    print(f"backend: {args.backend}")
    print(f"schedules: {args.schedules}")
    print(f"due_slots_claimed: {len(report.queued)}")
    print(f"first_sync_seconds: {sync_s:.3f}")
    print(f"idle_tick_seconds: {idle_tick_s:.4f}")
    print(f"idle_cpu_percent: {cpu:.2f}")
    print(f"tick_seconds: {tick_s:.3f}")


if __name__ == "__main__":
    main()
