"""The demo behind ``make demo``: a shop back-office on the embedded SQLite default, live in the dashboard.

What it starts, all in one command (Ctrl-C stops everything):

* a Shoptet simulator on loopback (``conveyor sim shoptet``: 5,000 orders, realistic Czech data, Shoptet's
  rate limits, a few new and changed orders every few seconds);
* one demo shop pointing at it, with its webhooks registered, so new orders flow in within seconds;
* a burst of example jobs (order imports with a flaky remote, stock syncs, notifications, one order that
  always fails and lands in the failed store) and a full orders snapshot import with live progress;
* a supplier feed simulator (``conveyor sim feeds``: 20,000 items, cp1250 CSV) with one supplier feed
  importing from it, a catalogue of 15,000 of those items (so linking finds matches by SKU and leaves the
  rest unmatched for the Links page) and a warehouse with one posted receipt (PZ);
* ``conveyor up``: the web dashboard, the scheduler (incremental order sync every 5 minutes, hourly product
  import) and a two-process worker.

``DEMO_SECONDS=N`` stops it after N seconds (for a smoke run). The database is ``conveyor-demo.db``; the
credentials key of the demo shop is kept in ``conveyor-demo.key`` (both in the working directory).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from rich.console import Console

from conveyor import Conveyor, RetryPolicy, current_job
from conveyor.commerce import warehouse
from conveyor.commerce.feeds import pipelines as feeds
from conveyor.commerce.shoptet import pipelines
from conveyor.commerce.store.crypto import generate_key

DEMO_URL = os.environ.get("CONVEYOR_DATABASE_URL", "sqlite:///conveyor-demo.db")
KEY_FILE = Path("conveyor-demo.key")
QUEUES = ["shoptet", "orders", "stock", "notifications", "default", "import", "integrations"]
CLI = [sys.executable, "-m", "conveyor.cli.main", "--app", "conveyor.commerce.demo:app"]


def _demo_key() -> str:
    """The demo shop's credentials key: from the environment, or made once and kept next to the database."""
    key = os.environ.get("CONVEYOR_COMMERCE_SECRET_KEY")
    if key:
        return key
    if not KEY_FILE.exists():
        KEY_FILE.write_text(generate_key())
        KEY_FILE.chmod(0o600)
    return KEY_FILE.read_text().strip()


app = Conveyor(DEMO_URL)
shoptet = pipelines.install(app, data_dir="conveyor-demo-data", secret_key=_demo_key(), queue="shoptet")
supplier_feeds = feeds.install(app, data_dir="conveyor-demo-data", secret_key=_demo_key())
stock = warehouse.install(app)
FEED_ITEMS = 20_000
FEED_MAPPING = {
    "sku": "kód",
    "ean": "ean",
    "name": "název",
    "stock_quantity": "skladem",
    "delivery_days": "dodací_lhůta",
    "purchase_price": "nákupní_cena",
}
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


@app.task(queue="default")
def nightly_report(days: int = 1) -> str:
    """A scheduled job for the "Automation settings" page: edit its cron there and watch the next runs."""
    for step in range(10):
        current_job().progress(step + 1, 10, "report sections")
        time.sleep(0.1)
    return f"report over {days} day(s)"


app.schedule(
    "reports.nightly",
    task=nightly_report,
    cron="30 2 * * *",
    timezone="Europe/Prague",
    params={"days": 1},
    description="Sales report for the back office, every night",
)


def enqueue_workload() -> int:
    rnd = random.Random(1)
    jobs = [import_order.job(f"2026{n:06d}", rnd.choice(["shop-cz", "shop-sk", "shop-pl"])) for n in range(1500)]
    jobs += [sync_stock.job([f"SKU-{c}-{i}" for i in range(50)]) for c in range(100)]
    jobs += [notify_customer.job(f"customer{n}@example.cz") for n in range(400)]
    jobs.append(import_broken_order.job("2026999999"))
    return len(app.enqueue_many(jobs))


def _port(preferred: int) -> int:
    """``preferred`` if it is free on loopback, else any free port."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])


def _demo_shop(sim_url: str) -> int:
    """The demo shop, pointing at this run's simulator. When the simulator came back on another port, the
    shop is pointed there and keeps everything synced so far (deleting it would lose the demo's data)."""
    from conveyor.commerce.shoptet.simulator import DEFAULT_PRIVATE_TOKEN

    for shop in pipelines.list_shops(app):
        if shop.name == "demo-shop":
            if shop.base_url != sim_url:
                pipelines.update_shop(app, shop.id, base_url=sim_url)
            return shop.id
    shop = pipelines.add_shop(
        app, "demo-shop", base_url=sim_url, token=DEFAULT_PRIVATE_TOKEN, eshop_id=222651, is_master=True
    )
    return shop.id


def _demo_feed(feed_url: str) -> int:
    """The demo supplier, its feed pointing at this run's feed simulator, a catalogue of most of the feed's
    items and a warehouse with one posted receipt; returns the execution of a feed import queued now."""
    import io

    from conveyor.commerce.feeds.simulator import FeedView

    source = f"{feed_url}/feeds/velkoobchod/stock.csv"
    if not warehouse.search_items(app, limit=1):
        rows = FeedView(1, FEED_ITEMS, "velkoobchod").rows(0, 15_000)
        csv = "sku;ean;name\n" + "".join(f"{r.sku};{r.ean};{r.name}\n" for r in rows)
        warehouse.import_catalog(app, io.StringIO(csv))
        warehouse.add_warehouse(app, "MAIN", "Hlavní sklad")
        lines = [warehouse.LineInput(r.sku, 5 + n % 20) for n, r in enumerate(rows[:200])]
        warehouse.create_document(app, "PZ", "MAIN", lines, reference="demo receipt", post=True)
    try:
        feed = feeds.find_feed(app, "velkoobchod-stock")
        for task in feeds.feed_tasks(app, feed.id):
            if task.source != source:
                feeds.update_task(app, task.id, source=source)
    except feeds.FeedNotFoundError:
        feeds.add_supplier(app, "velkoobchod", "Velkoobchod Novák s.r.o.")
        feeds.add_feed(app, "velkoobchod", "velkoobchod-stock", source=source, mappings=FEED_MAPPING)
    return feeds.request_import(app, "velkoobchod-stock", trigger="demo")[0]


def main() -> None:
    import uvicorn

    from conveyor.commerce.feeds.simulator import SimulatorConfig as FeedSimulatorConfig
    from conveyor.commerce.feeds.simulator import serve_in_thread as serve_feeds
    from conveyor.commerce.shoptet.simulator import SimulatorConfig, serve_in_thread
    from conveyor.scheduler import run_scheduler
    from conveyor.web import create_app

    console = Console()
    # The simulator reports every webhook it could not deliver; the demo's dashboard is the place to look.
    logging.getLogger("conveyor.commerce.shoptet.simulator").setLevel(logging.ERROR)
    app.migrate()
    sim_config = SimulatorConfig(
        orders=5_000, products=800, customers=2_000, latency=0.02, churn_interval=4.0, job_delay=3.0
    )
    web_port = _port(8000)
    stop = threading.Event()
    with (
        serve_in_thread(sim_config, port=_port(8010)) as sim_url,
        serve_feeds(FeedSimulatorConfig(items=FEED_ITEMS), port=_port(8020)) as feed_url,
    ):
        shop_id = _demo_shop(sim_url)
        web = create_app(app)
        server = uvicorn.Server(uvicorn.Config(web, host="127.0.0.1", port=web_port, log_level="warning"))
        threading.Thread(target=server.run, name="web", daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        dashboard = f"http://127.0.0.1:{web_port}"
        pipelines.register_webhooks(app, shop_id, f"{dashboard}/webhooks/shoptet", renew_signature_key=True)
        total = enqueue_workload()
        execution = pipelines.request_snapshot(app, shop_id, "orders")
        pipelines.run_pipeline(app, shop_id, "orders.fetch_new")
        feed_run = _demo_feed(feed_url)
        worker = subprocess.Popen(
            [*CLI, "work", "--processes", "2", "--queue", ",".join(QUEUES)],
            env=dict(os.environ, CONVEYOR_DATABASE_URL=DEMO_URL, CONVEYOR_COMMERCE_SECRET_KEY=_demo_key()),
            stderr=None if os.environ.get("DEMO_VERBOSE") else subprocess.DEVNULL,
        )
        scheduler = threading.Thread(target=run_scheduler, args=(app.schedules, stop), name="scheduler", daemon=True)
        scheduler.start()
        console.print(f"[bold]Conveyor demo[/bold] on {DEMO_URL}: queued {total} example jobs")
        console.print(f"  Shoptet simulator: {sim_url} (5,000 orders; new ones every few seconds)")
        console.print(f"  orders snapshot import: execution {execution}; incremental sync and webhooks running")
        console.print(f"  supplier feed simulator: {feed_url} ({FEED_ITEMS:,} items, cp1250 CSV)")
        console.print(f"  supplier feed import: execution {feed_run} (Integrations: {dashboard}/integrations)")
        console.print(f"\n  [bold green]Dashboard: {dashboard}/[/bold green]   (Shops: {dashboard}/shops)\n")
        console.print("  Ctrl-C stops the web app, the scheduler, the worker and the simulator.")
        seconds = float(os.environ.get("DEMO_SECONDS", "0") or 0)
        deadline = time.monotonic() + seconds if seconds else None
        with contextlib.suppress(KeyboardInterrupt):
            while worker.poll() is None and (deadline is None or time.monotonic() < deadline):
                time.sleep(0.5)
        stop.set()
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(timeout=40)
        server.should_exit = True
        scheduler.join(timeout=5)
    _summary(console)
    app.close()


def _summary(console: Console) -> None:
    for s in app.queue_stats():
        c = s.counts
        console.print(
            f"  {s.queue:<14} completed {c.get('completed', 0):>6}  failed {c.get('discarded', 0):>4}  "
            f"waiting {s.waiting:>5}"
        )
    env = f"CONVEYOR_DATABASE_URL={DEMO_URL}"
    console.print("Explore it later:", soft_wrap=True)
    console.print("  make demo                      # again: the data stays in conveyor-demo.db", soft_wrap=True)
    console.print(f"  {env} .venv/bin/conveyor failed list", soft_wrap=True)


if __name__ == "__main__":
    main()
