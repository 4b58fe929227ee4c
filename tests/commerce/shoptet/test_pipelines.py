"""The Shoptet pipelines, run by a real Conveyor worker against the simulator over HTTP, on SQLite and
PostgreSQL: incremental order and product sync, its cursor, per-shop locking and retries, the bad inputs
the issue lists, and the customers backfill.

The harness at the top (``running_shop``, ``Rig``, ``WebhookForwarder``) is shared with the snapshot,
webhook and CLI tests of this folder.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, func, select

from conveyor import Conveyor, JobState
from conveyor.commerce import store
from conveyor.commerce.shoptet import pipelines
from conveyor.commerce.shoptet.pipelines import ShoptetPack, install
from conveyor.commerce.shoptet.simulator import DEFAULT_OAUTH_TOKEN, DEFAULT_PRIVATE_TOKEN, SimulatorConfig, create_app
from conveyor.commerce.shoptet.simulator.server import serve_in_thread
from conveyor.commerce.shoptet.webhooks import SIGNATURE_HEADER
from conveyor.commerce.store import Execution, ExecutionStatus, Shop, generate_key
from conveyor.commerce.store.schema import customers, order_items, orders, products, variants
from tests.conftest import pg_database

KEY = generate_key()
ESHOP_ID = 222_651
#: A small shop whose leaky bucket never fills (tests about limits configure their own).
SHOP = {"orders": 150, "products": 30, "customers": 40, "bucket_leak": 100_000.0, "job_delay": 0.1}
#: Far enough back that a first run imports the simulator's whole history (products are years old).
WHOLE_HISTORY_HOURS = 24 * 3650


# ---------------------------------------------------------------------------------------------- harness
@dataclass
class Rig:
    """A Conveyor app with the Shoptet pipelines, a simulated shop over loopback, and the shop's row."""

    app: Conveyor
    pack: ShoptetPack
    sim: Any
    base_url: str
    shop: Shop
    data_dir: Path

    def work(self, **options: Any) -> None:
        """Run every due job in this process until none is left."""
        self.app.work(["default"], processes=0, stop_when_empty=True, sleep=0.05, **options)

    def run(self, pipeline: str = "orders.fetch_new", shop: Shop | None = None) -> Execution:
        """Run a pipeline now for the shop and return its execution once the worker is done."""
        job_id = pipelines.run_pipeline(self.app, (shop or self.shop).id, pipeline)
        self.work()
        return self.execution_of_job(job_id)

    def execution_of_job(self, job_id: int) -> Execution:
        runs = [e for e in pipelines.list_executions(self.app, limit=500) if e.job_id == job_id]
        assert runs, f"no execution for job {job_id}"
        return runs[0]

    def executions(self, pipeline: str | None = None) -> list[Execution]:
        return pipelines.list_executions(self.app, self.shop.id, pipeline=pipeline, limit=500)

    def cursor(self, key: str = "orders.change_time", shop: Shop | None = None) -> str | None:
        with self.app.driver.read() as conn:
            return store.get_cursor(conn, (shop or self.shop).id, key)

    def set_cursor(self, value: str, key: str = "orders.change_time") -> None:
        with self.app.driver.begin() as conn:
            store.set_cursor(conn, self.shop.id, key, value)

    def count(self, table: Any) -> int:
        with self.app.driver.read() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

    def advance(self, *, new_orders: int = 0, changed_orders: int = 0) -> dict[str, Any]:
        params = {"new_orders": new_orders, "changed_orders": changed_orders}
        response = httpx.post(self.base_url + "/_sim/advance", params=params, timeout=10)
        response.raise_for_status()
        return dict(response.json())

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Shoptet-Private-Api-Token": DEFAULT_PRIVATE_TOKEN}
        return httpx.request(method, self.base_url + path, headers=headers, timeout=10, **kwargs)

    def responses(self, status: int) -> int:
        return int(self.sim.status_counts[status])

    def changed_at(self, code: str) -> datetime:
        """The changeTime Shoptet (the simulator) reports for an order."""
        body = self.api("GET", f"/api/orders/{code}").json()
        return datetime.fromisoformat(body["data"]["order"]["changeTime"])

    def jobs(self, task: str) -> list[Any]:
        with self.app.driver.read() as conn:
            from conveyor.store.schema import jobs

            ids = [r[0] for r in conn.execute(select(jobs.c.id).where(jobs.c.task == task).order_by(jobs.c.id))]
        return [self.app.get_job(i) for i in ids]


@contextmanager
def database(kind: str, tmp_path: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'conveyor.db'}"
    else:
        with pg_database() as url:
            yield url


@contextmanager
def running_shop(
    db_url: str,
    tmp_path: Path,
    *,
    token: str = DEFAULT_PRIVATE_TOKEN,
    pack_options: dict[str, Any] | None = None,
    **sim: Any,
) -> Iterator[Rig]:
    """An app on ``db_url`` with the pipelines installed and one shop "acme" on a fresh simulator."""
    app = Conveyor(db_url, shutdown_grace_seconds=5)
    options = {
        "fallback_lookback_hours": WHOLE_HISTORY_HOURS,
        "snapshot_first_poll": 0.05,
        "client_options": {"max_retries": 1, "backoff_base": 0.01, "backoff_max": 0.05},
        # The simulator commits a change the moment it stamps it, so the cursor needs no margin beyond
        # Shoptet's own clock here; tests about the margin and about clock skew set their own.
        "cursor_margin": 0.0,
        **(pack_options or {}),
    }
    pack = install(app, data_dir=tmp_path / "data", secret_key=KEY, **options)
    app.migrate()
    sim_app = create_app(SimulatorConfig(**{**SHOP, **sim}))
    try:
        with serve_in_thread(app=sim_app) as base_url:
            shop = pipelines.add_shop(app, "acme", base_url=base_url, token=token, eshop_id=ESHOP_ID)
            yield Rig(app, pack, sim_app.state.simulator, base_url, shop, tmp_path / "data")
    finally:
        pack.close()
        app.close()


@pytest.fixture(params=["sqlite", "postgres"])
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    """One shop on each database."""
    with database(request.param, tmp_path) as url, running_shop(url, tmp_path) as running:
        yield running


@pytest.fixture
def sqlite_rig(tmp_path: Path) -> Iterator[Rig]:
    """One shop on SQLite, for behaviour that does not depend on the database."""
    with running_shop(f"sqlite:///{tmp_path / 'conveyor.db'}", tmp_path) as running:
        yield running


class WebhookForwarder:
    """Shoptet's side of webhooks for tests: an HTTP endpoint on loopback that hands every notification to
    ``handle_webhook``, as the web layer's ``POST /webhooks/shoptet`` does (401 on a bad signature)."""

    def __init__(self, app: Conveyor) -> None:
        self.results: list[pipelines.WebhookResult] = []
        self.refused = 0
        forwarder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    forwarder.results.append(pipelines.handle_webhook(app, body, self.headers.get(SIGNATURE_HEADER)))
                except pipelines.WebhookSignatureError:
                    forwarder.refused += 1
                    self.send_response(401)
                else:
                    self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/webhooks/shoptet"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self.results):
            assert time.monotonic() < deadline, f"webhooks not delivered in time: {self.results}"
            time.sleep(0.02)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def forwarding_webhooks(
    rig: Rig, events: tuple[str, ...] = pipelines.DEFAULT_WEBHOOK_EVENTS
) -> Iterator[WebhookForwarder]:
    """Webhooks of ``events`` registered at the simulator, delivered to ``handle_webhook``."""
    forwarder = WebhookForwarder(rig.app)
    try:
        pipelines.register_webhooks(rig.app, rig.shop.id, forwarder.url, events=events)
        yield forwarder
    finally:
        forwarder.close()


class DomainWrites:
    """Rows written to the synced data tables (not executions, cursors or jobs) while it listens."""

    TABLES = {t.name for t in (orders, order_items, customers, products, variants)}

    def __init__(self, app: Conveyor) -> None:
        self.engine = app.driver.engine
        self.rows = 0

    def __call__(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        words = statement.split()
        verb = words[0].upper() if words else ""
        if verb in ("INSERT", "UPDATE", "DELETE"):
            target = words[2] if verb in ("INSERT", "DELETE") else words[1]
            if target.strip('"') in self.TABLES:
                self.rows += len(parameters) if many else 1

    def __enter__(self) -> DomainWrites:
        event.listen(self.engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self)


# ---------------------------------------------------------------------------------------------- incremental
def test_first_run_imports_the_window_and_moves_the_cursor_to_the_newest_change(rig: Rig) -> None:
    execution = rig.run()

    assert execution.status is ExecutionStatus.COMPLETED and execution.trigger == "manual"
    assert execution.counts.read == SHOP["orders"] == execution.counts.created
    assert rig.count(orders) == SHOP["orders"]
    newest = max(rig.sim.data.order_changed)
    cursor = rig.cursor()
    assert cursor is not None and datetime.fromisoformat(cursor).timestamp() == newest


def test_touched_variants_go_to_the_inventory_step_deduplicated_in_batches_of_50(sqlite_rig: Rig) -> None:
    sqlite_rig.run()

    batches = [job.args[1] for job in sqlite_rig.jobs("commerce.inventory.refresh_metrics")]
    codes = [code for batch in batches for code in batch]
    assert batches and all(len(batch) <= 50 for batch in batches)
    assert len(codes) == len(set(codes))
    with sqlite_rig.app.driver.read() as conn:
        stocked = {r[0] for r in conn.execute(select(order_items.c.code).where(order_items.c.item_type == "product"))}
    assert set(codes) == stocked
    assert all(job.state is JobState.COMPLETED for job in sqlite_rig.jobs("commerce.inventory.refresh_metrics"))


def test_the_next_run_picks_up_new_and_changed_orders(rig: Rig) -> None:
    rig.run()
    traffic = rig.advance(new_orders=3, changed_orders=4)

    execution = rig.run()

    assert execution.status is ExecutionStatus.COMPLETED
    changed_only = set(traffic["changed"]) - set(traffic["created"])  # a new order may also move on at once
    assert (execution.counts.created, execution.counts.updated) == (3, len(changed_only))
    for code in traffic["created"]:
        assert rig.count(orders.select().where(orders.c.code == code).subquery()) == 1
    cursor = rig.cursor()
    assert cursor is not None
    assert datetime.fromisoformat(cursor) == max(rig.changed_at(c) for c in traffic["created"] + traffic["changed"])


def test_re_running_the_same_window_writes_zero_rows(sqlite_rig: Rig) -> None:
    sqlite_rig.run()
    sqlite_rig.advance(new_orders=2, changed_orders=5)
    before = sqlite_rig.cursor()
    assert before is not None
    sqlite_rig.run()

    sqlite_rig.set_cursor(before)  # the same window again
    with DomainWrites(sqlite_rig.app) as writes:
        again = sqlite_rig.run()

    assert again.status is ExecutionStatus.COMPLETED
    assert again.counts.read >= 7 and again.counts.unchanged == again.counts.read
    assert (again.counts.created, again.counts.updated, again.counts.failed) == (0, 0, 0)
    assert writes.rows == 0


def test_products_import_master_brings_variants_with_codes_and_eans(rig: Rig) -> None:
    execution = rig.run("products.import_master")

    assert execution.status is ExecutionStatus.COMPLETED
    assert execution.counts.created == SHOP["products"] == rig.count(products)
    detail = rig.api("GET", f"/api/products/{rig.sim.data.product_detail(0)['guid']}").json()["data"]
    codes = [v["code"] for v in detail["variants"]]
    with rig.app.driver.read() as conn:
        stored = store.find_variants(conn, rig.shop.id, codes)
    assert set(stored) == set(codes)
    assert [stored[v["code"]]["ean"] for v in detail["variants"]] == [v.get("ean") for v in detail["variants"]]
    assert rig.cursor("products.change_time") is not None


# ---------------------------------------------------------------------------------------------- bad input
def test_a_malformed_order_is_reported_the_rest_imported_and_the_cursor_held_before_it(rig: Rig) -> None:
    # Break orders in a shop whose records are otherwise fine: ~10% are served malformed (seeded).
    rig.sim.config = SimulatorConfig(**{**SHOP, "malformed_rate": 0.1})
    data = rig.sim.data
    broken = [i for i in range(SHOP["orders"]) if data.malformation("orders", i, 0.1) is not None]
    assert broken

    execution = rig.run()

    assert execution.status is ExecutionStatus.COMPLETED
    assert execution.counts.failed == len(broken)
    assert execution.counts.created == SHOP["orders"] - len(broken) == rig.count(orders)
    errors = pipelines.execution_errors(rig.app, execution.id, limit=1000)
    assert sorted(e.record_code or "" for e in errors) == sorted(data.order_code(i) for i in broken)
    assert all("does not match the schema" in e.reason or "not JSON" in e.reason for e in errors)
    cursor = rig.cursor()
    assert cursor is not None
    assert datetime.fromisoformat(cursor).timestamp() == min(data.order_changed[i] for i in broken)
    assert min(data.order_changed[i] for i in broken) < max(data.order_changed)  # it really was held back


def test_a_wrong_token_ends_the_execution_after_one_request_and_is_not_retried(sqlite_rig: Rig) -> None:
    with sqlite_rig.app.driver.begin() as conn:
        store.set_shop_credentials(conn, sqlite_rig.pack.cipher, sqlite_rig.shop.id, {"token": "revoked-token"})
    requests_before = sqlite_rig.sim.stats["requests"]

    job_id = pipelines.run_pipeline(sqlite_rig.app, sqlite_rig.shop.id, "orders.fetch_new")
    sqlite_rig.work()

    execution = sqlite_rig.execution_of_job(job_id)
    assert execution.status is ExecutionStatus.ERROR
    assert execution.error is not None and execution.error.startswith("authentication failed for shop acme")
    job = sqlite_rig.app.get_job(job_id)
    assert job.state is JobState.DISCARDED and job.attempt == 1  # failed for good, not retried
    assert "authentication failed for shop acme" in (job.last_error.error if job.last_error else "")
    assert sqlite_rig.sim.stats["requests"] - requests_before == 1
    assert sqlite_rig.responses(401) == 1
    assert sqlite_rig.cursor() is None


def test_a_rate_limit_longer_than_the_clients_wait_snoozes_the_job_without_spending_an_attempt(tmp_path: Path) -> None:
    # A bucket of 3 drops leaking one drop every 20 s: the 4th request gets a Retry-After ~20 s away.
    with running_shop(
        f"sqlite:///{tmp_path / 'c.db'}",
        tmp_path,
        pack_options={"max_rate_limit_wait": 1.0},
        bucket_capacity=3,
        bucket_leak=0.05,
    ) as rig:
        job_id = pipelines.run_pipeline(rig.app, rig.shop.id, "orders.fetch_new")
        rig.work()

        job = rig.app.get_job(job_id)
        assert job.state is JobState.SCHEDULED and job.attempt == 0
        assert job.scheduled_at - time.time() > 5
        assert rig.responses(429) >= 1
        execution = rig.execution_of_job(job_id)
        assert execution.status is ExecutionStatus.RUNNING  # resumes when the job wakes up
        assert rig.cursor() is None


def test_a_failing_shop_errors_and_is_retried_while_the_other_shop_completes(tmp_path: Path) -> None:
    broken_sim = create_app(SimulatorConfig(**{**SHOP, "error_rate": 1.0}))
    with running_shop(f"sqlite:///{tmp_path / 'c.db'}", tmp_path) as rig, serve_in_thread(app=broken_sim) as url:
        broken = pipelines.add_shop(rig.app, "down", base_url=url, token=DEFAULT_PRIVATE_TOKEN)
        rig.app.enqueue("shoptet.orders.fetch_new")  # what the schedule does every 5 minutes
        rig.work()

        fine = rig.executions("orders.fetch_new")
        failed = pipelines.list_executions(rig.app, broken.id)
        assert [(e.trigger, e.status) for e in fine] == [("cron", ExecutionStatus.COMPLETED)]
        assert [(e.trigger, e.status) for e in failed] == [("cron", ExecutionStatus.ERROR)]
        assert failed[0].error is not None and "ServerError" in failed[0].error
        job = rig.app.get_job(failed[0].job_id or 0)
        assert job.state is JobState.RETRYABLE and job.attempt == 1
        assert rig.cursor(shop=broken) is None and rig.cursor() is not None

        # A second tick while the failed job waits for its retry does not queue another one.
        rig.app.enqueue("shoptet.orders.fetch_new")
        rig.work()
        assert len(rig.jobs("shoptet.orders.fetch_new_for_shop")) == 3  # acme twice, "down" once


def test_the_shop_lock_keeps_two_runs_of_one_shop_from_overlapping(tmp_path: Path) -> None:
    with running_shop(f"sqlite:///{tmp_path / 'c.db'}", tmp_path, orders=60, latency=0.02) as rig:
        first = pipelines.run_pipeline(rig.app, rig.shop.id, "orders.fetch_new")
        worker = threading.Thread(target=rig.work, kwargs={"concurrency": 2})
        worker.start()
        deadline = time.monotonic() + 10
        while rig.execution_of_job(first).status is not ExecutionStatus.RUNNING:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        second = pipelines.run_pipeline(rig.app, rig.shop.id, "orders.fetch_new")  # not deduplicated: one runs
        worker.join(timeout=30)

        one, two = rig.execution_of_job(first), rig.execution_of_job(second)
        assert second != first
        assert one.status is two.status is ExecutionStatus.COMPLETED
        assert one.finished_at is not None and two.started_at is not None
        assert two.started_at >= one.finished_at
        assert rig.app.get_job(second).lock_key == f"snapshot:{rig.shop.id}:orders-incremental"


def test_a_shop_deleted_while_its_job_waits_ends_the_job_cleanly(
    sqlite_rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    job_id = pipelines.run_pipeline(sqlite_rig.app, sqlite_rig.shop.id, "orders.fetch_new")
    assert pipelines.remove_shop(sqlite_rig.app, sqlite_rig.shop.id)

    with caplog.at_level(logging.WARNING, logger="conveyor.commerce.shoptet"):
        sqlite_rig.work()

    job = sqlite_rig.app.get_job(job_id)
    assert job.state is JobState.COMPLETED and job.attempt == 1
    assert job.result == {"skipped": f"shop {sqlite_rig.shop.id} no longer exists"}
    assert f"shop {sqlite_rig.shop.id} no longer exists" in caplog.text
    assert sqlite_rig.sim.stats["requests"] == 0


# ---------------------------------------------------------------------------------------------- scheduling
def test_the_schedules_are_declared_without_overlap(sqlite_rig: Rig) -> None:
    entries = {
        key: sqlite_rig.app.schedules.get(key) for key in ("shoptet.orders.fetch_new", "shoptet.products.import_master")
    }
    assert entries["shoptet.orders.fetch_new"].cron == "*/5 * * * *"
    assert entries["shoptet.products.import_master"].cron == "0 * * * *"
    assert not entries["shoptet.orders.fetch_new"].overlap and not entries["shoptet.products.import_master"].overlap


def test_run_now_while_a_run_waits_returns_the_waiting_job(sqlite_rig: Rig) -> None:
    first = pipelines.run_pipeline(sqlite_rig.app, sqlite_rig.shop.id, "orders.fetch_new")
    again = pipelines.run_pipeline(sqlite_rig.app, sqlite_rig.shop.id, "orders.fetch_new")

    assert again == first
    assert len(sqlite_rig.executions()) == 1


def test_run_now_refuses_an_unknown_pipeline_and_an_unknown_shop(sqlite_rig: Rig) -> None:
    with pytest.raises(pipelines.UnknownPipelineError, match=r"unknown pipeline 'orders\.fetch_all'"):
        pipelines.run_pipeline(sqlite_rig.app, sqlite_rig.shop.id, "orders.fetch_all")
    with pytest.raises(store.ShopNotFoundError):
        pipelines.run_pipeline(sqlite_rig.app, 999, "orders.fetch_new")
    assert sqlite_rig.jobs("shoptet.orders.fetch_new_for_shop") == []


# ---------------------------------------------------------------------------------------------- customers
def test_the_customers_backfill_links_guest_orders_by_email(sqlite_rig: Rig) -> None:
    sqlite_rig.run()
    with sqlite_rig.app.driver.read() as conn:
        guests = store.orders_without_customer(conn, sqlite_rig.shop.id, limit=1000)
    with_email = [g for g in guests if g.email]
    assert with_email

    execution = sqlite_rig.run("customers.backfill_from_orders")

    assert execution.status is ExecutionStatus.COMPLETED
    counts = execution.counts
    assert counts.read == len(guests)
    assert counts.created + counts.updated == len(with_email)
    with sqlite_rig.app.driver.read() as conn:
        left = store.orders_without_customer(conn, sqlite_rig.shop.id, limit=1000)
        assert all(not g.email for g in left)
        order = store.find_order(conn, sqlite_rig.shop.id, with_email[0].code)
        assert order is not None
        linked = conn.execute(select(customers.c.email).where(customers.c.id == order["customer_id"])).scalar_one()
    assert linked == with_email[0].email
    batch_jobs = sqlite_rig.jobs("commerce.customers.link_orders")
    assert batch_jobs and all(j.batch_id == batch_jobs[0].batch_id for j in batch_jobs)


# ---------------------------------------------------------------------------------------------- OAuth
def test_an_add_on_shop_keeps_its_access_token_encrypted_in_the_shop_for_every_worker(tmp_path: Path) -> None:
    with running_shop(f"sqlite:///{tmp_path / 'c.db'}", tmp_path) as rig:
        oauth = pipelines.add_shop(rig.app, "addon", base_url=rig.base_url, oauth_token=DEFAULT_OAUTH_TOKEN)
        first = rig.run(shop=oauth)
        stored = rig.pack.credentials(oauth.id)["access_token"]

        other = Conveyor(rig.app.settings.database_url)  # another worker process, as far as tokens go
        other_pack = install(other, data_dir=tmp_path / "data", secret_key=KEY, schedules=False)
        try:
            client = other_pack.client(oauth)
            list(client.iter_orders(items_per_page=5))
        finally:
            other_pack.close()
            other.close()

        assert first.status is ExecutionStatus.COMPLETED
        assert stored["token"] and stored["expires_at"] > time.time()
        assert len(rig.sim.tokens._issued) == 1  # the second "worker" reused the stored token


def test_a_cancelled_run_stops_between_chunks_and_keeps_the_cursor(tmp_path: Path) -> None:
    # ~2.5 s of detail requests; a worker sees a cancel request within a second.
    with running_shop(f"sqlite:///{tmp_path / 'c.db'}", tmp_path, latency=0.05) as rig:
        job_id = pipelines.run_pipeline(rig.app, rig.shop.id, "orders.fetch_new")
        worker = threading.Thread(target=rig.work)
        worker.start()
        deadline = time.monotonic() + 10
        while rig.execution_of_job(job_id).status is not ExecutionStatus.RUNNING:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert rig.app.cancel(job_id) == "requested"
        worker.join(timeout=30)

        execution = rig.execution_of_job(job_id)
        assert execution.status is ExecutionStatus.ERROR and (execution.error or "").startswith("cancelled after")
        assert 0 < execution.counts.read < SHOP["orders"]
        assert rig.app.get_job(job_id).state is JobState.CANCELLED
        assert rig.cursor() is None
