"""The demo behind ``make demo``: a small shop back-office workload on the embedded SQLite default.

It queues a burst of example jobs (order imports, stock syncs, notifications — a few fail and are retried,
one always fails and lands in the failed store), runs a real prefork worker on them and shows progress
live. Afterwards the database (``conveyor-demo.db``) is there to explore with the printed commands.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from conveyor import Conveyor, RetryPolicy, current_job
from conveyor.engine import clock

DEMO_URL = os.environ.get("CONVEYOR_DATABASE_URL", "sqlite:///conveyor-demo.db")
app = Conveyor(DEMO_URL)
QUICK_RETRY = RetryPolicy(delay=0.5, multiplier=2.0, max_delay=5, jitter=0.1)


@app.task(queue="orders", max_attempts=3, retry=QUICK_RETRY)
def import_order(order_code: str, shop: str) -> None:
    """Pretend to fetch an order's detail and upsert it; the remote is flaky 5 % of the time."""
    time.sleep(random.uniform(0.002, 0.02))
    if current_job().attempt == 1 and random.random() < 0.05:
        raise ConnectionError(f"{shop}: 503 Service Unavailable while fetching {order_code}")


@app.task(queue="stock", max_attempts=3, retry=QUICK_RETRY)
def sync_stock(skus: list[str]) -> int:
    time.sleep(0.01 + 0.0005 * len(skus))
    return len(skus)


@app.task(queue="notifications", max_attempts=2, retry=QUICK_RETRY)
async def notify_customer(email: str) -> None:
    await asyncio.sleep(random.uniform(0.001, 0.01))


@app.task(queue="orders", max_attempts=2, retry=QUICK_RETRY)
def import_broken_order(order_code: str) -> None:
    raise ValueError(f"order {order_code}: item 3 has no variant code (EAN 8594000000000 unknown)")


def enqueue_workload() -> int:
    rnd = random.Random(1)
    jobs = [import_order.job(f"2026{n:06d}", rnd.choice(["shop-cz", "shop-sk", "shop-pl"])) for n in range(1500)]
    jobs += [sync_stock.job([f"SKU-{c}-{i}" for i in range(50)]) for c in range(100)]
    jobs += [notify_customer.job(f"customer{n}@example.cz") for n in range(400)]
    jobs.append(import_broken_order.job("2026999999"))
    return len(app.enqueue_many(jobs))


def _start_worker(queues: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "conveyor.cli.main",
            "--app",
            "conveyor.demo:app",
            "work",
            "--queue",
            ",".join(queues),
            "--processes",
            "2",
            "--concurrency",
            "8",
            "--stop-when-empty",
            "--sleep",
            "0.2",
        ],
        env=dict(os.environ, CONVEYOR_DATABASE_URL=DEMO_URL),
        stderr=subprocess.DEVNULL,
    )


def _show(progress: Progress, bars: dict[str, TaskID]) -> None:
    for s in app.driver.queue_stats(clock.now()):
        if s.queue not in bars:
            continue
        done = s.counts.get("completed", 0) + s.counts.get("discarded", 0)
        c = s.counts
        info = f"running {c.get('executing', 0)}, retrying {c.get('retryable', 0)}, failed {c.get('discarded', 0)}"
        progress.update(bars[s.queue], total=sum(c.values()), completed=done, info=info)


def main() -> None:
    console = Console()
    app.migrate()
    total = enqueue_workload()
    console.print(f"[bold]Conveyor demo[/bold]: queued {total} jobs in {DEMO_URL}")
    queues = ["orders", "stock", "notifications"]
    with Progress(
        TextColumn("{task.description:>14}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        bars = {q: progress.add_task(q, total=None, info="") for q in queues}
        # --stop-when-empty ends the worker when nothing is due; a retry due a moment later gets
        # another round, so the demo always finishes with every job completed or failed for good.
        for _ in range(10):
            worker = _start_worker(queues)
            while worker.poll() is None:
                _show(progress, bars)
                time.sleep(0.2)
            _show(progress, bars)
            if not any(s.waiting for s in app.driver.queue_stats(clock.now())):
                break
            time.sleep(0.5)
    table = Table(title="result")
    for col in ("queue", "completed", "failed", "waiting"):
        table.add_column(col)
    for s in app.driver.queue_stats(clock.now()):
        table.add_row(s.queue, str(s.counts.get("completed", 0)), str(s.counts.get("discarded", 0)), str(s.waiting))
    console.print(table)
    failed = app.driver.list_jobs(["discarded"], limit=1)
    env = f"CONVEYOR_DATABASE_URL={DEMO_URL}"
    console.print("Explore it:", soft_wrap=True)
    console.print(f"  {env} .venv/bin/conveyor queue stats", soft_wrap=True)
    console.print(f"  {env} .venv/bin/conveyor failed list", soft_wrap=True)
    if failed:
        console.print(f"  {env} .venv/bin/conveyor jobs show {failed[0].id}", soft_wrap=True)
        console.print(f"  {env} .venv/bin/conveyor failed retry {failed[0].id}", soft_wrap=True)
    app.close()


if __name__ == "__main__":
    main()
