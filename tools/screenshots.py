"""Screenshots of every dashboard page, for docs/screenshots/ (``make screenshots``).

It builds a small shop back-office on a throwaway SQLite file — finished jobs spread over the last day
(so the throughput charts have a shape), waiting and scheduled jobs, failures of two kinds, schedules
with a run history, a half-done batch and a held lock — starts the web application on a free loopback
port and a real ``conveyor work`` process running two slow catalogue imports that report progress, then
opens each page in headless Chromium: 1280×800 for every page, 390×844 (a phone) for the overview, and
the overview and the failed page in dark mode.

    .venv/bin/python tools/screenshots.py [--out docs/screenshots] [--chromium /usr/bin/chromium]

The worker process imports this module as its application (``--app screenshots:app``), which is why the
tasks live at module level and the database URL comes from ``CONVEYOR_DATABASE_URL``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from conveyor import Conveyor, RetryPolicy, current_job

ROOT = Path(__file__).resolve().parent.parent
QUICK = RetryPolicy(delay=0.05, multiplier=1.0, max_delay=0.1, jitter=0.0)

app = Conveyor(os.environ.get("CONVEYOR_DATABASE_URL", "sqlite:///conveyor-screenshots.db"))


@app.task(name="orders.import", queue="orders", max_attempts=3, retry=QUICK)
def import_order(order_code: str, shop: str) -> None:
    """Fetch an order's detail and upsert it."""
    if order_code.endswith("13"):
        raise ValueError(f"order {order_code}: item 3 has no variant code (EAN 8594000000000 unknown)")


@app.task(name="stock.sync", queue="stock", max_attempts=1)
def sync_stock(skus: list[str]) -> int:
    if any(s.endswith("-BAD") for s in skus):
        raise ConnectionError("shop-sk: 503 Service Unavailable while posting stock levels")
    return len(skus)


@app.task(name="notifications.email", queue="notifications", max_attempts=2, retry=QUICK)
async def notify_customer(email: str, template: str = "order_shipped") -> None:
    await asyncio.sleep(0)


@app.task(name="catalogue.import", queue="imports", timeout=900)
def import_catalogue(shop: str, rows: int = 5000) -> int:
    """Slow on purpose: runs for minutes, reporting progress, so the pages show a running job."""
    job = current_job()
    for done in range(0, rows + 1, 25):
        job.progress(done, rows, "products")
        if job.cancelled:
            return done
        time.sleep(0.4)
    return rows


@app.task(name="reports.stock_summary", queue="reports")
def stock_summary(batch_id: int) -> None: ...


@app.task(name="orders.fetch_new", queue="orders")
def fetch_new_orders(fallback_lookback_hours: int = 24, chunk: int = 100) -> None: ...


@app.task(name="invoices.send_reminders", queue="notifications", max_attempts=1)
def send_reminders(days_overdue: int = 14) -> None:
    raise TimeoutError("SMTP server smtp.example.cz did not answer within 30 s")


app.schedule(
    "orders.fetch_new",
    task=fetch_new_orders,
    cron="*/5 * * * *",
    timezone="Europe/Prague",
    params={"fallback_lookback_hours": 24, "chunk": 250},
    description="Incremental order import from every shop",
)
app.schedule(
    "stock.full_sync",
    task="stock.sync",
    cron="30 2 * * *",
    timezone="Europe/Prague",
    params={"skus": ["*"]},
    description="Full stock sync at night",
)
app.schedule(
    "invoices.reminders",
    task=send_reminders,
    cron="0 8 * * 1-5",
    timezone="Europe/Prague",
    description="Payment reminders on weekday mornings",
)
app.schedule("orders.refresh_statuses", cron="*/15 * * * *", description="Not implemented yet")


def seed() -> None:
    """Fill the database: a day of history, a backlog, failures, runs, a batch and a lock."""
    from sqlalchemy import select, update

    from conveyor.store import schema

    logging.disable(logging.CRITICAL)  # the inline worker would log every deliberate failure
    app.migrate()
    rnd = random.Random(7)
    shops = ["shop-cz", "shop-sk", "shop-pl"]
    jobs = [import_order.job(f"2026{n:06d}", rnd.choice(shops)) for n in range(900)]
    jobs += [sync_stock.job([f"SKU-{c}-{i}" for i in range(40)]) for c in range(120)]
    jobs += [sync_stock.job(["SKU-7-BAD"]) for _ in range(4)]
    jobs += [notify_customer.job(f"customer{n}@example.cz") for n in range(300)]
    app.enqueue_many(jobs)
    for key in ("orders.fetch_new", "orders.fetch_new", "invoices.reminders"):
        app.schedules.trigger(key)
    drain(["orders", "stock", "notifications"])

    # Spread what just finished over the last 24 hours, denser in the last hour, so the charts have a shape.
    J, E = schema.jobs, schema.job_errors
    with app.driver.begin() as conn:
        ids = [r[0] for r in conn.execute(select(J.c.id).where(J.c.finished_at.is_not(None)))]
        for job_id in ids:
            back = rnd.uniform(30, 3500) if rnd.random() < 0.45 else rnd.uniform(3600, 86000)
            conn.execute(
                update(J)
                .where(J.c.id == job_id)
                .values(
                    created_at=J.c.created_at - back,
                    scheduled_at=J.c.scheduled_at - back,
                    attempted_at=J.c.attempted_at - back,
                    finished_at=J.c.finished_at - back,
                )
            )
            conn.execute(update(E).where(E.c.job_id == job_id).values(at=E.c.at - back))

    # A backlog: waiting now, and some due later.
    app.enqueue_many([import_order.job(f"2027{n:06d}", rnd.choice(shops)) for n in range(140)])
    for n in range(25):
        notify_customer.enqueue_in(600 + n * 60, f"later{n}@example.cz", template="review_request")
    app.queue("imports", global_limit=2)

    # Batches: one that finished with a failed chunk, and one caught half-way (a few chunks done, one
    # at a time, the rest waiting).
    app.dispatch_chunks(
        sync_stock, ["SKU-1-BAD"] + [f"SKU-{i}" for i in range(99)], chunk=50, name="price push: shop-sk"
    )
    drain(["stock"])
    skus = [f"SKU-{i}" for i in range(1200)]
    app.dispatch_chunks(sync_stock, skus, chunk=100, name="full stock sync: shop-cz", on_complete=stock_summary)
    for _ in range(5):
        app.work(["stock"], processes=0, once=True, sleep=0.05)

    app.lock("report:daily-sales", ttl=900).acquire()
    app.lock("snapshot:shop-cz:orders-incremental", ttl=600).acquire()
    logging.disable(logging.NOTSET)


def drain(queues: list[str]) -> None:
    """Run an inline worker until nothing is left to do, retries included (``--stop-when-empty`` alone
    stops while a retry waits out its back-off)."""
    from conveyor.engine import clock

    for _ in range(20):
        app.work(queues, processes=0, concurrency=8, stop_when_empty=True, sleep=0.05)
        if not any(s.waiting for s in app.driver.queue_stats(clock.now()) if s.queue in queues):
            return
        time.sleep(0.15)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """The web application under uvicorn in a background thread, on a free loopback port."""

    def __init__(self, conveyor: Conveyor) -> None:
        import uvicorn

        from conveyor.web import create_app

        self.port = free_port()
        config = uvicorn.Config(create_app(conveyor), host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the web server did not start within 15 s")
            time.sleep(0.05)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def start_worker(database_url: str) -> subprocess.Popen[bytes]:
    """A real worker process serving the "imports" queue, loading this module as its application."""
    env = dict(
        os.environ,
        CONVEYOR_DATABASE_URL=database_url,
        CONVEYOR_SHUTDOWN_GRACE_SECONDS="1",
        PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), str(ROOT), os.environ.get("PYTHONPATH", "")]),
    )
    cmd = [
        sys.executable,
        "-m",
        "conveyor.cli.main",
        "--app",
        "screenshots:app",
        "work",
        "--queue",
        "imports",
        "--processes",
        "1",
        "--concurrency",
        "2",
        "--sleep",
        "0.2",
    ]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_until(check: object, timeout: float, what: str) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.1)


def capture(base_url: str, login_url: str, out: Path, chromium: str, running_job: int, failed_job: int) -> list[Path]:
    from playwright.sync_api import Page, ViewportSize, sync_playwright

    saved: list[Path] = []
    desktop: ViewportSize = {"width": 1280, "height": 800}
    # (file name, path, whole page?) — long lists are shown as the first screenful.
    pages = [
        ("overview", "/", True),
        ("jobs", "/jobs", False),
        ("jobs-failed", "/jobs?state=discarded", False),
        ("job-running", f"/jobs/{running_job}", True),
        ("job-failed", f"/jobs/{failed_job}", True),
        ("failed", "/failed", False),
        ("schedules", "/schedules", True),
        ("schedule", "/schedules/orders.fetch_new", True),
        ("batches", "/batches", False),
        ("batch", "/batches/2", True),
        ("batch-failed", "/batches/1", True),
        ("locks", "/locks", False),
    ]

    def shoot(page: Page, name: str, path: str, full: bool = False) -> None:
        page.goto(base_url + path)
        page.wait_for_selector('[data-live-status][data-state="open"]', timeout=10_000)
        page.wait_for_timeout(1200)  # a progress event or two, and the fonts settled
        target = out / f"{name}.png"
        page.screenshot(path=str(target), full_page=full)
        saved.append(target)

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        light = browser.new_page(viewport=desktop, color_scheme="light")
        for name, path, full in pages:
            shoot(light, name, path, full)
        # The inline editor with a validation error, as an operator would see it.
        light.goto(base_url + "/schedules")
        light.click('tr[data-schedule="orders.fetch_new"] [data-edit-toggle]')
        light.fill('[data-schedule-form="orders.fetch_new"] input[name="cron"]', "*/5 * * *")
        light.click('[data-schedule-form="orders.fetch_new"] button[type="submit"]')
        light.wait_for_selector('[data-schedule-form="orders.fetch_new"] [data-error-for="cron"]:not(:empty)')
        target = out / "schedules-edit.png"
        light.screenshot(path=str(target))
        saved.append(target)
        light.close()

        phone = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2, color_scheme="light")
        shoot(phone, "overview-phone", "/")
        shoot(phone, "failed-phone", "/failed")
        phone.close()

        dark = browser.new_page(viewport=desktop, color_scheme="dark")
        shoot(dark, "overview-dark", "/")
        shoot(dark, "job-running-dark", f"/jobs/{running_job}")
        dark.close()

        login = browser.new_page(viewport=desktop, color_scheme="light")
        login.goto(login_url + "/login")
        target = out / "login.png"
        login.screenshot(path=str(target))
        saved.append(target)
        browser.close()
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--chromium", default=os.environ.get("CONVEYOR_CHROMIUM", "/usr/bin/chromium"))
    args = parser.parse_args()
    if not Path(args.chromium).exists():
        sys.exit(f"error: no Chromium at {args.chromium} (apt-get install -y chromium, or pass --chromium)")
    args.out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'screenshots.db'}"
        app.settings.database_url = url  # the module-level app opens nothing until first used
        print(f"seeding {url} …", flush=True)
        seed()
        for n, shop in enumerate(["shop-cz", "shop-sk"]):
            import_catalogue.enqueue(shop, rows=4000 + 2000 * n)
        worker = start_worker(url)
        try:
            wait_until(lambda: _executing(app) >= 2, 30, "the worker to start the catalogue imports")
            time.sleep(2.5)  # let them report some progress
            running_job = _first_id(app, "executing", "catalogue.import")
            failed_job = _first_id(app, "discarded", "orders.import")
            login_app = Conveyor(url, web_token="screenshot-token")
            with Server(app) as server, Server(login_app) as login_server:
                saved = capture(server.url, login_server.url, args.out, args.chromium, running_job, failed_job)
        finally:
            worker.terminate()
            try:
                worker.wait(15)
            except subprocess.TimeoutExpired:
                worker.kill()
            app.close()
    for path in saved:
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


def _executing(conveyor: Conveyor) -> int:
    from sqlalchemy import func, select

    from conveyor.store import schema

    with conveyor.driver.begin() as conn:
        return int(conn.execute(select(func.count()).where(schema.jobs.c.state == "executing")).scalar_one())


def _first_id(conveyor: Conveyor, state: str, task: str) -> int:
    from sqlalchemy import select

    from conveyor.store import schema

    J = schema.jobs
    with conveyor.driver.begin() as conn:
        row = conn.execute(select(J.c.id).where(J.c.state == state, J.c.task == task).order_by(J.c.id).limit(1)).first()
    if row is None:
        raise RuntimeError(f"no {state} {task} job to photograph")
    return int(row[0])


if __name__ == "__main__":
    main()
