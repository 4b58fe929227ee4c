"""The Shoptet client, specified against the Shoptet simulator over real HTTP on loopback.

Each behaviour is checked where Shoptet would produce it: paging, limits, tokens, snapshots and faults
all come from the simulator (``conveyor.commerce.shoptet.simulator``). Four things it cannot produce on
demand — an exact ``Retry-After`` date against a frozen clock, a connection that fails and then works, a
token endpoint that keeps issuing tokens the API refuses, a job that fails — use ``httpx.MockTransport``
at the end.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from conveyor import Conveyor
from conveyor.commerce.shoptet.auth import AccessTokenManager, InMemoryTokenCache, PrivateApiToken
from conveyor.commerce.shoptet.client import ShoptetClient, SnapshotLineError, iter_snapshot_lines
from conveyor.commerce.shoptet.errors import (
    AuthenticationError,
    InvalidRequest,
    JobFailed,
    JobFinishedWebhookMissing,
    JobNotFinished,
    JobPollLimitExceeded,
    MalformedResponse,
    NotFound,
    RateLimited,
    ServerError,
    SnapshotCorruptError,
)
from conveyor.commerce.shoptet.models import OrderDetail, parse_shoptet_datetime
from conveyor.commerce.shoptet.simulator import (
    DEFAULT_OAUTH_TOKEN,
    DEFAULT_PRIVATE_TOKEN,
    SimulatorConfig,
    create_app,
    serve_in_thread,
)
from conveyor.commerce.shoptet.webhooks import SIGNATURE_HEADER, parse_notification, verify
from tests.commerce.shoptet.openapi import validate_response

SMALL_SHOP = {"orders": 120, "products": 30, "customers": 40, "job_delay": 0.05}
NO_BUCKET = {"bucket_leak": 100_000.0}  # the leaky bucket never fills: for tests about something else


# ---------------------------------------------------------------------------------------------- harness
class Sleeps:
    """An injectable ``sleep`` that records each wait; it really sleeps only when asked to."""

    def __init__(self, *, real: bool = False) -> None:
        self.calls: list[float] = []
        self.real = real

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        if self.real:
            time.sleep(seconds)


class ShiftableClock:
    """Wall-clock time plus an offset the test moves: the simulator's 'now'."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class Shop:
    """A simulator serving over loopback, and its in-process state for counting what reached it."""

    base_url: str
    sim: Any
    clock: ShiftableClock

    def client(self, token: str = DEFAULT_PRIVATE_TOKEN, **options: Any) -> ShoptetClient:
        options.setdefault("sleep", Sleeps())
        return ShoptetClient(PrivateApiToken(token), base_url=self.base_url, shop="sim", **options)

    def token_manager(self, **options: Any) -> AccessTokenManager:
        return AccessTokenManager(self.base_url, DEFAULT_OAUTH_TOKEN, shop_key="sim", **options)

    @property
    def requests(self) -> int:
        """API and non-API requests that reached the simulator so far."""
        return int(self.sim.stats["requests"])

    def statuses(self, status: int) -> int:
        return int(self.sim.status_counts[status])

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A raw call with the private token (for setup, and to compare with what the client returns)."""
        headers = {"Shoptet-Private-Api-Token": DEFAULT_PRIVATE_TOKEN}
        return httpx.request(method, self.base_url + path, headers=headers, timeout=10, **kwargs)

    def advance(self, *, new_orders: int = 0, changed_orders: int = 0) -> dict[str, Any]:
        params = {"new_orders": new_orders, "changed_orders": changed_orders}
        response = httpx.post(self.base_url + "/_sim/advance", params=params, timeout=10)
        response.raise_for_status()
        return dict(response.json())


@contextmanager
def running_shop(**config: Any) -> Iterator[Shop]:
    clock = ShiftableClock()
    app = create_app(SimulatorConfig(**{**SMALL_SHOP, **config}), clock=clock)
    with serve_in_thread(app=app) as base_url:
        yield Shop(base_url, app.state.simulator, clock)


@pytest.fixture(scope="module")
def shop() -> Iterator[Shop]:
    """One shop shared by the tests that only read it."""
    with running_shop(**NO_BUCKET) as running:
        yield running


class WebhookReceiver:
    """An HTTP endpoint on loopback that checks each notification's signature, as an add-on must."""

    def __init__(self) -> None:
        self.key = ""
        self.finished_jobs: dict[str, threading.Event] = {}
        self.bad_signatures = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if not verify(body, self.headers.get(SIGNATURE_HEADER), receiver.key):
                    receiver.bad_signatures += 1
                    self.send_response(401)
                else:
                    notification = parse_notification(body)
                    if notification.event == "job:finished":
                        receiver.job(notification.event_instance).set()
                    self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/shoptet"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def job(self, job_id: str) -> threading.Event:
        with self._lock:
            return self.finished_jobs.setdefault(job_id, threading.Event())

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    receiving = WebhookReceiver()
    yield receiving
    receiving.close()


def register_job_finished(shop: Shop, receiver: WebhookReceiver) -> None:
    """What an add-on does once per installation before it may ask for snapshots."""
    receiver.key = shop.api("POST", "/api/webhooks/renew-signature-key").json()["data"]["signatureKey"]
    response = shop.api("POST", "/api/webhooks", json={"data": [{"event": "job:finished", "url": receiver.url}]})
    assert response.status_code == 201, response.text


def received_part(dumped: Any, raw: Any) -> Any:
    """``dumped`` restricted, at every depth, to the keys ``raw`` has."""
    if isinstance(raw, dict) and isinstance(dumped, dict):
        return {key: received_part(dumped.get(key), value) for key, value in raw.items()}
    if isinstance(raw, list) and isinstance(dumped, list) and len(raw) == len(dumped):
        return [received_part(d, r) for d, r in zip(dumped, raw, strict=True)]
    return dumped


# ---------------------------------------------------------------------------------------------- paging
def test_orders_stream_lazily_one_page_at_a_time(shop: Shop) -> None:
    with shop.client() as client:
        before = shop.requests
        stream = client.iter_orders()
        assert shop.requests == before  # nothing fetched until the first record is wanted

        first = next(stream)
        assert shop.requests == before + 1 and stream.pages_fetched == 1
        for _ in range(49):
            next(stream)
        assert stream.pages_fetched == 1  # the 50 orders of page 1 came from one request
        next(stream)
        assert stream.pages_fetched == 2

        rest = list(stream)
    assert first.code not in {order.code for order in rest}
    assert 1 + 49 + 1 + len(rest) == 120
    assert stream.pages_fetched == 3 and stream.total_count == 120


def test_orders_are_asked_for_at_most_50_a_page(shop: Shop, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="conveyor.commerce.shoptet")
    with shop.client() as client:
        stream = client.iter_orders(items_per_page=1000)
        codes = [order.code for order in stream]
    assert len(codes) == len(set(codes)) == 120
    assert stream.pages_fetched == 3
    requested = [r.getMessage() for r in caplog.records if r.getMessage().startswith("GET /api/orders?")]
    assert len(requested) == 3 and all("itemsPerPage=50" in line for line in requested)


def test_change_time_filter_is_sent_with_shoptets_offset_and_applied(shop: Shop) -> None:
    with shop.client() as client:
        everything = list(client.iter_orders())
        change_times = sorted(order.change_time for order in everything if order.change_time)
        cutoff = change_times[len(change_times) // 2]
        recent = list(client.iter_orders(change_time_from=cutoff))
    assert recent and all(order.change_time and order.change_time >= cutoff for order in recent)
    assert len(recent) == sum(1 for t in change_times if t >= cutoff)


def test_a_filter_datetime_without_offset_is_refused_before_any_request(shop: Shop) -> None:
    with shop.client() as client, pytest.raises(ValueError, match="no UTC offset"):
        client.iter_orders(change_time_from=datetime(2024, 1, 1))


def test_products_customers_and_change_logs_stream_every_record(shop: Shop) -> None:
    since = datetime.now(UTC) - timedelta(days=29)
    with shop.client() as client:
        products = list(client.iter_products(items_per_page=7))
        customers = list(client.iter_customers(items_per_page=9))
        product_changes = list(client.iter_product_changes(since))
        customer_changes = client.iter_customer_changes(since)
        order_changes = list(client.iter_order_changes(since))
        customer_change_guids = [change.guid for change in customer_changes]
    assert len({p.guid for p in products}) == 30
    assert len({c.guid for c in customers}) == 40
    assert {change.guid for change in product_changes} <= {p.guid for p in products}
    assert customer_changes.pages_fetched == max(1, -(-len(customer_change_guids) // 20))  # 20 a page at most
    assert order_changes and all(change.change_type == "edit" for change in order_changes)


def test_new_orders_arriving_mid_stream_do_not_yield_an_order_twice() -> None:
    with running_shop(**NO_BUCKET) as shop, shop.client() as client:
        stream = client.iter_orders(items_per_page=20)
        seen = [next(stream).code for _ in range(20)]  # page 1 read
        shop.advance(new_orders=7)  # newest first: every later page now starts 7 records earlier
        seen += [order.code for order in stream]
    assert len(seen) == len(set(seen)) == 120
    assert stream.count_changed


def test_orders_leaving_the_filter_mid_stream_do_not_hide_the_others() -> None:
    with running_shop(**NO_BUCKET) as shop, shop.client() as client:
        window_end = datetime.now(UTC)
        stream = client.iter_orders(change_time_to=window_end, items_per_page=10)
        seen = [next(stream).code for _ in range(30)]  # pages 1-3 read
        shop.clock.offset = 3600.0
        shop.advance(changed_orders=25)  # changed an hour later: they leave the window, later orders move up
        seen += [order.code for order in stream]
        still_in_window = {order.code for order in client.iter_orders(change_time_to=window_end)}
    assert len(seen) == len(set(seen))
    assert still_in_window <= set(seen)
    assert stream.count_changed and not stream.possibly_incomplete


# ---------------------------------------------------------------------------------------------- details
def test_order_detail_has_decimal_money_aware_times_and_typed_items(shop: Shop) -> None:
    with shop.client() as client:
        code = next(client.iter_orders()).code
        order = client.get_order(code)
    assert order.code == code
    assert order.creation_time is not None and order.creation_time.utcoffset() is not None
    assert isinstance(order.price.with_vat, Decimal) and order.price.currency_code in ("CZK", "EUR")
    assert order.status is not None and isinstance(order.status.id, int)
    kinds = {item.item_type for item in order.items}
    assert "product" in kinds and "shipping" in kinds  # shipping and payment are order lines too
    product_line = next(item for item in order.items if item.item_type == "product")
    assert isinstance(product_line.amount, Decimal) and product_line.amount == product_line.amount.quantize(
        Decimal("0.001")
    )
    assert product_line.item_price is not None and isinstance(product_line.item_price.vat_rate, Decimal)
    assert order.billing_address is not None and order.billing_address.country_code


def test_order_detail_dumps_back_to_exactly_what_shoptet_sent(shop: Shop) -> None:
    with shop.client() as client:
        code = next(client.iter_orders()).code
        order = client.get_order(code)
    raw = shop.api("GET", f"/api/orders/{code}").json()["data"]["order"]
    assert order.to_shoptet() == raw
    # The full dump adds the attributes the model knows but this answer lacked (as None), nothing else:
    assert received_part(order.model_dump(by_alias=True, mode="json"), raw) == raw
    validate_response("GET", "/api/orders/{code}", 200, {"data": {"order": order.to_shoptet()}, "errors": None,
                                                         "metadata": {"requestId": "r"}})  # fmt: skip


def test_product_detail_has_variants_with_code_stock_and_price(shop: Shop) -> None:
    with shop.client() as client:
        guid = next(client.iter_products()).guid
        product = client.get_product(guid, include=["perStockAmounts"])
    raw = shop.api("GET", f"/api/products/{guid}", params={"include": "perStockAmounts"}).json()["data"]
    assert product.guid == guid and product.variants
    variant = product.variants[0]
    assert variant.code and isinstance(variant.price, Decimal)
    assert variant.stock is None or isinstance(variant.stock, Decimal)
    assert product.to_shoptet() == raw


def test_customer_detail_has_addresses_and_the_main_accounts_email(shop: Shop) -> None:
    with shop.client() as client:
        guid = next(client.iter_customers()).guid
        customer = client.get_customer(guid)
    raw = shop.api("GET", f"/api/customers/{guid}").json()["data"]["customer"]
    assert customer.guid == guid and customer.billing_address is not None
    assert customer.email == next(a["email"] for a in raw["accounts"] if a["mainAccount"])
    assert customer.to_shoptet() == raw


def test_an_unknown_order_is_not_found_with_shoptets_error_code_and_request_id(shop: Shop) -> None:
    with shop.client() as client, pytest.raises(NotFound) as caught:
        client.get_order("1999999999")
    assert caught.value.status_code == 404 and caught.value.error_code == "order-not-found"
    assert caught.value.request_id and caught.value.request_id in str(caught.value)


def test_order_details_are_fetched_concurrently_and_a_deleted_one_is_none() -> None:
    with running_shop(latency=0.05, **NO_BUCKET) as shop, shop.client() as client:
        codes = [order.code for order in client.iter_orders()][:15]
        started = time.perf_counter()
        results = dict(client.fetch_order_details([*codes, "1999999999"], concurrency=8))
        elapsed = time.perf_counter() - started
    assert results.pop("1999999999") is None
    assert set(results) == set(codes) and all(isinstance(d, OrderDetail) for d in results.values())
    assert elapsed < 15 * 0.05  # overlapped…
    assert shop.sim.stats["rejected_concurrency"] == 0  # …but never over Shoptet's 3 connections per token


def test_a_malformed_detail_raises_naming_the_record() -> None:
    with running_shop(malformed_rate=1.0, **NO_BUCKET) as shop, shop.client() as client:
        data = shop.sim.data
        kinds = {data.malformation("orders", i, 1.0): i for i in range(20)}
        for index in (kinds["invalid-json"], kinds["missing-field"]):
            code = data.order_code(index)
            with pytest.raises(MalformedResponse) as caught:
                client.get_order(code)
            assert caught.value.code == code
            assert code in str(caught.value)


# ---------------------------------------------------------------------------------------------- failures
def test_a_wrong_token_is_an_authentication_error_after_a_single_request(shop: Shop) -> None:
    with shop.client("not-the-token") as client:
        before = shop.requests
        with pytest.raises(AuthenticationError) as caught:
            client.get_order("2026000001")
    assert str(caught.value).startswith("authentication failed for shop sim: invalid-token")
    assert shop.requests == before + 1  # no retry storm
    assert "not-the-token" not in str(caught.value)


def test_server_errors_are_retried_with_growing_backoff_then_raised() -> None:
    sleeps = Sleeps()
    with running_shop(error_rate=1.0, **NO_BUCKET) as shop:
        with shop.client(max_retries=3, sleep=sleeps, random=lambda: 0.5) as client, pytest.raises(ServerError):
            client.get_order("2026000001")
        assert shop.sim.stats["injected_errors"] == 4  # the first try and 3 retries
    # 0.5 s doubling, "equal jitter" (half fixed, half random; random() = 0.5 here)
    assert sleeps.calls == [0.375, 0.75, 1.5]


def test_occasional_server_errors_are_invisible_to_the_caller() -> None:
    with running_shop(error_rate=0.3, **NO_BUCKET) as shop, shop.client(max_retries=6) as client:
        codes = [order.code for order in client.iter_orders(items_per_page=10)]
        assert len(set(codes)) == 120
        assert shop.sim.stats["injected_errors"] > 0


def test_a_rejected_request_is_not_retried(shop: Shop) -> None:
    with shop.client() as client:
        before = shop.requests
        with pytest.raises(InvalidRequest) as caught:
            list(client.iter_order_changes(datetime.now(UTC), change_type="sideways"))
    assert caught.value.status_code == 400 and caught.value.error_code == "invalid-parameter"
    assert shop.requests == before + 1


# ---------------------------------------------------------------------------------------------- rate limits
def test_a_full_bucket_is_waited_out_until_its_retry_after_date() -> None:
    sleeps = Sleeps(real=True)
    with running_shop(bucket_capacity=3, bucket_leak=1.0) as shop:
        with shop.client(pace_above=1.0, sleep=sleeps) as client:  # no pacing: let the bucket overflow
            codes = [client.get_order(code).code for code in ("2026000001", "2026000002", "2026000003", "2026000004")]
        assert shop.sim.stats["rejected_bucket"] == 1
    assert len(codes) == 4
    assert len(sleeps.calls) == 1 and 0 < sleeps.calls[0] <= 2.5  # Retry-After is a whole-second date


def test_a_wait_longer_than_allowed_raises_rate_limited_with_the_seconds_to_wait() -> None:
    sleeps = Sleeps()
    with (
        running_shop(bucket_capacity=2, bucket_leak=0.02) as shop,
        shop.client(pace_above=1.0, sleep=sleeps, max_rate_limit_wait=30) as client,
    ):
        client.get_order("2026000001")
        client.get_order("2026000002")
        with pytest.raises(RateLimited) as caught:
            client.get_order("2026000003")
    assert 45 <= caught.value.retry_after_seconds <= 51  # one drop leaks in 50 s
    assert caught.value.retry_at is not None and caught.value.retry_at.tzinfo is not None
    assert sleeps.calls == []  # raised at once, for the task to Snooze


def test_pacing_on_the_bucket_header_keeps_a_long_sync_free_of_429s() -> None:
    with running_shop(orders=60, bucket_capacity=20, bucket_leak=40.0) as shop:
        with shop.client(leak_rate=40.0, sleep=Sleeps(real=True)) as client:
            codes = [order.code for order in client.iter_orders(items_per_page=1)]  # 60 requests
        assert len(codes) == 60
        assert shop.sim.stats["rejected_bucket"] == 0


def test_without_pacing_the_same_sync_overflows_the_bucket() -> None:
    # The control for the test above: the simulator does enforce the bucket at this rate.
    with (
        running_shop(orders=60, bucket_capacity=20, bucket_leak=40.0) as shop,
        shop.client(pace_above=1.0, max_rate_limit_wait=0) as client,
        pytest.raises(RateLimited),
    ):
        list(client.iter_orders(items_per_page=1))


def test_a_shared_rate_limit_in_the_conveyor_database_paces_every_worker_of_the_shop(tmp_path: Path) -> None:
    app = Conveyor(f"sqlite:///{tmp_path}/c.db")
    app.migrate()
    with running_shop(**NO_BUCKET) as shop:
        workers = [shop.client(app=app, shared_rate=20) for _ in range(2)]  # 20/s, bursts of 20

        def sync(client: ShoptetClient) -> None:
            for n in range(1, 16):
                client.get_order(f"2026{n:06d}")

        started = time.perf_counter()
        threads = [threading.Thread(target=sync, args=(client,)) for client in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        for client in workers:
            client.close()
        assert shop.statuses(200) == 30
    app.close()
    # Alone, each worker's 15 requests fit in a burst; together the 10 over the burst wait 0.05 s each.
    assert elapsed >= 0.45


# ---------------------------------------------------------------------------------------------- add-on tokens
def test_an_add_on_token_is_fetched_once_and_reused() -> None:
    with running_shop(**NO_BUCKET) as shop:
        manager = shop.token_manager()
        with ShoptetClient(manager, base_url=shop.base_url) as client:
            for order in list(client.iter_orders())[:3]:
                client.get_order(order.code)
        assert manager.refreshes == 1
        assert client.shop == "sim"


def test_an_expired_token_is_refreshed_once_and_the_request_repeated() -> None:
    with running_shop(**NO_BUCKET) as shop:
        manager = shop.token_manager()
        with ShoptetClient(manager, base_url=shop.base_url, sleep=Sleeps()) as client:
            client.get_order("2026000001")
            shop.clock.offset = 1801.0  # Shoptet's clock passes the token's expiry; ours does not know yet
            order = client.get_order("2026000002")
        assert order.code == "2026000002"
        assert manager.refreshes == 2
        assert shop.statuses(401) == 1


def test_a_token_is_replaced_shortly_before_it_expires() -> None:
    now = [1_000_000.0]
    with running_shop(**NO_BUCKET) as shop:
        manager = shop.token_manager(refresh_margin=60, clock=lambda: now[0])
        first = manager.access_token()
        now[0] += 1800 - 61
        assert manager.access_token() == first
        now[0] += 2  # now within the last minute of its life
        second = manager.access_token()
    assert second != first and manager.refreshes == 2


def test_an_oauth_token_the_shop_refuses_is_an_authentication_error() -> None:
    with running_shop(**NO_BUCKET) as shop:
        manager = AccessTokenManager(shop.base_url, "revoked-oauth-token", shop_key="sim")
        with ShoptetClient(manager, base_url=shop.base_url) as client, pytest.raises(AuthenticationError) as caught:
            client.get_order("2026000001")
    assert str(caught.value).startswith("authentication failed for shop sim: Unauthorized")


def test_workers_without_a_shared_cache_run_into_shoptets_token_limit() -> None:
    with running_shop(max_access_tokens=1, **NO_BUCKET) as shop:
        shop.token_manager().access_token()
        with pytest.raises(AuthenticationError, match=r"maximum_tokens_reached .*share one through a TokenCache"):
            shop.token_manager().access_token()  # its own empty cache: it asks for a second token


def test_workers_sharing_a_token_cache_refresh_once_under_the_conveyor_lock(tmp_path: Path) -> None:
    app = Conveyor(f"sqlite:///{tmp_path}/c.db")
    app.migrate()
    cache = InMemoryTokenCache()  # stands for a cache every worker reads (the database, in production)
    with running_shop(**NO_BUCKET) as shop:
        # Two managers (as in two worker processes), each used by two threads: only the lock in the
        # database, not a lock in memory, can keep them from fetching a token each.
        managers = [shop.token_manager(cache=cache, app=app) for _ in range(2)]
        start = threading.Barrier(4)
        tokens: list[str] = []

        def worker(manager: AccessTokenManager) -> None:
            start.wait()
            tokens.append(manager.access_token())

        threads = [threading.Thread(target=worker, args=(managers[n % 2],)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    app.close()
    assert sum(manager.refreshes for manager in managers) == 1
    assert len(tokens) == 4 and len(set(tokens)) == 1


# ---------------------------------------------------------------------------------------------- snapshots
def test_a_snapshot_without_the_job_finished_webhook_is_refused_with_what_to_do(shop: Shop) -> None:
    with shop.client() as client, pytest.raises(JobFinishedWebhookMissing) as caught:
        client.request_snapshot("orders")
    assert "conveyor shoptet shops update sim --webhook-url" in str(caught.value)
    assert caught.value.status_code == 403


def test_snapshot_download_checksum_and_streaming_lines(tmp_path: Path, receiver: WebhookReceiver) -> None:
    with running_shop(**NO_BUCKET) as shop, shop.client() as client:
        register_job_finished(shop, receiver)
        job_id = client.request_snapshot("orders", include=["notes"])
        job = client.wait_for_job(job_id, finished=receiver.job(job_id).wait, first_delay=10)
        assert job.succeeded and job.result_url and job.valid_until is not None
        assert shop.sim.jobs[job_id].polls <= 1  # the webhook, not polling, said when
        path, sha256, size = client.download_result(job.result_url, tmp_path / "orders.jsonl.gz")
        listed = {order.code for order in client.iter_orders()}
        shop.clock.offset = 24 * 3600 + 1  # results are kept 24 h
        with pytest.raises(NotFound, match="kept 24 h"):
            client.download_result(job.result_url, tmp_path / "again.jsonl.gz")
        assert client.get_job(job_id).status == "expired"
    assert receiver.bad_signatures == 0
    content = path.read_bytes()
    assert sha256 == hashlib.sha256(content).hexdigest() and size == len(content)
    assert not (tmp_path / "orders.jsonl.gz.part").exists()
    records = list(iter_snapshot_lines(path, model=OrderDetail))
    assert all(isinstance(record, dict) for record in records)
    assert {record["code"] for record in records if isinstance(record, dict)} == listed
    assert all("notes" in record for record in records if isinstance(record, dict))


def test_malformed_snapshot_lines_are_reported_and_the_rest_is_read(tmp_path: Path, receiver: WebhookReceiver) -> None:
    with running_shop(orders=60, malformed_rate=0.2, **NO_BUCKET) as shop, shop.client() as client:
        register_job_finished(shop, receiver)
        job_id = client.request_snapshot("orders")
        job = client.wait_for_job(job_id, finished=receiver.job(job_id).wait)
        assert job.result_url
        path, _, _ = client.download_result(job.result_url, tmp_path / "orders.jsonl.gz")
        data = shop.sim.data
        broken = {data.order_code(i): data.malformation("orders", i, 0.2) for i in range(60)}
    broken = {code: how for code, how in broken.items() if how}
    assert "invalid-json" in broken.values() and "missing-field" in broken.values()

    lines = list(iter_snapshot_lines(path, model=OrderDetail))
    errors = [line for line in lines if isinstance(line, SnapshotLineError)]
    good = [line for line in lines if isinstance(line, dict)]
    assert len(lines) == 60 and len(good) == 60 - len(broken)
    assert {error.code for error in errors} == set(broken)  # each bad line named, even the cut-off JSON
    assert all(error.line_number >= 1 and error.reason for error in errors)
    invalid = [e for e in errors if broken[e.code or ""] == "invalid-json"]
    assert invalid and all(e.reason.startswith("invalid JSON") for e in invalid)


def test_a_truncated_snapshot_is_refused_before_any_record(tmp_path: Path) -> None:
    path = tmp_path / "orders.jsonl.gz"
    with gzip.open(path, "wb") as out:
        for n in range(2000):
            out.write(json.dumps({"code": f"2026{n:06d}", "filler": "x" * 50}).encode() + b"\n")
    full = path.read_bytes()
    path.write_bytes(full[: len(full) // 2])  # the download stopped half way

    lines = iter_snapshot_lines(path)
    with pytest.raises(SnapshotCorruptError, match="damaged"):
        next(lines)
    path.write_bytes(b"")
    with pytest.raises(SnapshotCorruptError, match="empty"):
        next(iter_snapshot_lines(path))
    path.write_bytes(full[: len(full) // 2])
    # Without the up-front check the damage surfaces after the records before it, still as an error.
    read = 0
    with pytest.raises(SnapshotCorruptError, match="after line"):
        for _ in iter_snapshot_lines(path, verify=False):
            read += 1
    assert 0 < read < 2000


def test_waiting_for_a_slow_job_stops_well_before_shoptets_poll_limit(receiver: WebhookReceiver) -> None:
    sleeps = Sleeps()
    with running_shop(job_delay=30.0, **NO_BUCKET) as shop, shop.client(sleep=sleeps) as client:
        register_job_finished(shop, receiver)
        job_id = client.request_snapshot("customers")
        with pytest.raises(JobNotFinished) as caught:
            client.wait_for_job(job_id, max_polls=4, first_delay=5, max_delay=15)
        assert shop.sim.jobs[job_id].polls == 4
    assert caught.value.polls == 4 and caught.value.job.status in ("pending", "running")
    assert sleeps.calls == [5, 10, 15, 15]
    with pytest.raises(ValueError, match="between 1 and 10"):
        client.wait_for_job(job_id, max_polls=11)


def test_polling_an_unfinished_job_an_eleventh_time_is_refused_clearly(receiver: WebhookReceiver) -> None:
    with running_shop(job_delay=30.0, **NO_BUCKET) as shop, shop.client() as client:
        register_job_finished(shop, receiver)
        job_id = client.request_snapshot("customers")
        for _ in range(10):
            assert not client.get_job(job_id).finished
        with pytest.raises(JobPollLimitExceeded) as caught:
            client.get_job(job_id)
    assert caught.value.error_code == "job-detail-try-counter-exceeded-limit"


# ---------------------------------------------------------------------------------------------- logging
def test_every_request_is_logged_and_no_token_ever_is(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with running_shop(**NO_BUCKET) as shop:
        with shop.client() as client:
            list(client.iter_orders())
            with pytest.raises(NotFound):
                client.get_order("1999999999")
        with shop.client("wrong-private-token") as client, pytest.raises(AuthenticationError) as auth_error:
            client.get_order("2026000001")
        cache = InMemoryTokenCache()
        manager = shop.token_manager(cache=cache)
        with ShoptetClient(manager, base_url=shop.base_url) as client:
            client.get_order("2026000001")
            shop.clock.offset = 1801.0  # one expired-token 401 and a refresh
            client.get_order("2026000002")
            access_token = cache.get("sim")
            assert access_token is not None
            shown = [repr(client), repr(manager), repr(access_token), str(auth_error.value)]
    ours = [r for r in caplog.records if not r.name.startswith("conveyor.commerce.shoptet.simulator")]
    text = "\n".join(r.getMessage() for r in ours) + "\n".join(shown)
    for secret in (DEFAULT_PRIVATE_TOKEN, "wrong-private-token", DEFAULT_OAUTH_TOKEN, access_token.token):
        assert secret not in text
    lines = [r.getMessage() for r in ours if r.name == "conveyor.commerce.shoptet"]
    assert any(line.startswith("GET /api/orders?page=1&itemsPerPage=50 -> 200 in ") for line in lines)
    assert any(re.search(r" -> 404 in \d+ ms \(bucket \d+/200, request id [0-9a-f]{8}-", line) for line in lines)
    assert any(" -> 401 in " in line for line in lines)


# ---------------------------------------------------------------------------------------------- mock transport
def mock_client(handler: Callable[[httpx.Request], httpx.Response], **options: Any) -> ShoptetClient:
    return ShoptetClient(
        PrivateApiToken("mock-token"), base_url="https://api.test", shop="mock", transport=httpx.MockTransport(handler),
        **options,
    )  # fmt: skip


MINIMAL_ORDER: dict[str, Any] = {
    "data": {
        "order": {
            "code": "1",
            "creationTime": "2024-07-01T12:00:00+0200",
            "changeTime": None,
            "status": None,
            "price": {"currencyCode": "CZK", "withVat": "121.00"},
            "items": [],
        }
    },
    "errors": None,
    "metadata": {"requestId": "r"},
}


def test_retry_after_is_an_http_date_and_exactly_that_long_is_slept() -> None:
    now = 1_719_835_264.0  # Mon, 01 Jul 2024 12:01:04 GMT
    answers = iter(
        [
            httpx.Response(429, headers={"Retry-After": format_datetime(datetime.fromtimestamp(now + 7, UTC), True)}),
            httpx.Response(200, json=MINIMAL_ORDER),
        ]
    )
    sleeps = Sleeps()
    with mock_client(lambda request: next(answers), sleep=sleeps, clock=lambda: now, pace_above=1.0) as client:
        order = client.get_order("1")
    assert sleeps.calls == [7.0]
    assert order.creation_time == parse_shoptet_datetime("2024-07-01T12:00:00+0200")


def test_network_errors_are_retried_and_then_the_answer_is_used() -> None:
    attempts = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        if len(attempts) < 3:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json=MINIMAL_ORDER)

    sleeps = Sleeps()
    with mock_client(handler, sleep=sleeps, random=lambda: 0.0) as client:
        assert client.get_order("1").code == "1"
    assert len(attempts) == 3 and sleeps.calls == [0.25, 0.5]


def test_a_token_refused_again_after_one_refresh_fails_without_more_attempts() -> None:
    token_fetches, api_calls = [], []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/action/ApiOAuthServer/getAccessToken":
            token_fetches.append(request)
            return httpx.Response(200, json={"access_token": f"token-{len(token_fetches)}", "expires_in": 1800})
        api_calls.append(request.headers["Shoptet-Access-Token"])
        body = {"data": None, "errors": [{"errorCode": "invalid-token", "message": "no", "instance": "unknown"}]}
        return httpx.Response(401, json=body)

    transport = httpx.MockTransport(handler)
    manager = AccessTokenManager("https://shop.test", "oauth", http=httpx.Client(transport=transport))
    with (
        ShoptetClient(manager, base_url="https://api.test", transport=transport) as client,
        pytest.raises(AuthenticationError, match=r"^authentication failed for shop shop\.test: invalid-token"),
    ):
        client.get_order("1")
    assert api_calls == ["token-1", "token-2"] and len(token_fetches) == 2


def test_a_failed_job_raises_with_its_log() -> None:
    job = {
        "jobId": "1xv8s4c",
        "endpoint": "/api/products/snapshot",
        "creationTime": "2024-07-01T12:00:00+0200",
        "completionTime": "2024-07-01T12:03:00+0200",
        "duration": "180.000",
        "status": "failed",
        "resultUrl": None,
        "validUntil": None,
        "log": "out of memory",
    }
    answer = {"data": {"job": job}, "errors": None, "metadata": {"requestId": "r"}}
    with (
        mock_client(lambda request: httpx.Response(200, json=answer), sleep=Sleeps()) as client,
        pytest.raises(JobFailed, match=r"job 1xv8s4c \(/api/products/snapshot\) ended failed: out of memory") as caught,
    ):
        client.wait_for_job("1xv8s4c")
    assert caught.value.job.status == "failed"
