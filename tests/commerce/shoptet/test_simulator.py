"""The Shoptet simulator behaves like Shoptet's API: shapes per the official OpenAPI file, limits, jobs, webhooks.

Every test talks to a real server on loopback (``serve_in_thread``) with httpx, as a client would.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import hmac
import json
import queue
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from conveyor.commerce.shoptet.simulator import SimulatorConfig, create_app, serve_in_thread
from conveyor.commerce.shoptet.simulator.data import format_time
from conveyor.commerce.sim import cli as sim_cli
from tests.commerce.shoptet.openapi import validate_response, validate_schema

TOKEN = {"Shoptet-Private-Api-Token": "sim-private-token"}
SMALL = {"orders": 240, "products": 60, "customers": 90, "bucket_capacity": 100_000, "job_delay": 0.2}
PINNED_NOW = 1_760_000_000.0  # 2025-10-09: histories end here when a test needs byte-identical data


def small(**overrides: Any) -> SimulatorConfig:
    return SimulatorConfig(**{**SMALL, **overrides})


@pytest.fixture(scope="module")
def shop() -> Iterator[httpx.Client]:
    """One shared simulator for tests that only read."""
    with serve_in_thread(small(seed=3)) as base, httpx.Client(base_url=base, headers=TOKEN, timeout=10) as client:
        yield client


def ok(client: httpx.Client, method: str, template: str, url: str, status: int = 200, **kw: Any) -> Any:
    """Call, check the status, validate the body against the official schema, return the JSON."""
    response = client.request(method, url, **kw)
    assert response.status_code == status, response.text
    body = response.json()
    validate_response(method, template, status, body)
    return body


class WebhookReceiver:
    """A local HTTP endpoint that records every notification posted to it."""

    def __init__(self) -> None:
        received: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.put(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def next(self, timeout: float = 5.0) -> tuple[dict[str, str], bytes]:
        return self.received.get(timeout=timeout)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver()
    yield r
    r.close()


def register(client: httpx.Client, event: str, url: str) -> dict[str, Any]:
    body = ok(client, "POST", "/api/webhooks", "/api/webhooks", 201, json={"data": [{"event": event, "url": url}]})
    hook: dict[str, Any] = body["data"]["webhooks"][0]
    return hook


def signed_by(key: str, headers: dict[str, str], body: bytes) -> bool:
    expected = hmac.new(key.encode(), body, hashlib.sha1).hexdigest()
    return hmac.compare_digest(expected, headers["shoptet-webhook-signature"])


# --- shapes ----------------------------------------------------------------------------------------------------


def test_list_endpoints_answer_per_the_official_schema(shop: httpx.Client) -> None:
    ok(shop, "GET", "/api/orders", "/api/orders")
    ok(shop, "GET", "/api/orders/statuses", "/api/orders/statuses")
    ok(shop, "GET", "/api/products", "/api/products?include=images&itemsPerPage=100")
    ok(shop, "GET", "/api/customers", "/api/customers")
    ok(shop, "GET", "/api/webhooks", "/api/webhooks")
    ok(shop, "GET", "/api/system/jobs", "/api/system/jobs")
    since = "2000-01-01T00:00:00+0100"
    for kind in ("orders", "products", "customers"):
        body = ok(shop, "GET", f"/api/{kind}/changes", f"/api/{kind}/changes", params={"from": since})
        assert body["data"]["changes"], f"{kind}: the 30-day change log should not be empty"


def test_detail_endpoints_answer_per_the_official_schema_with_every_include(shop: httpx.Client) -> None:
    order_includes = "notes,images,shippingDetails,stockLocation,surchargeParameters,paymentTransactions,productFlags"
    for page in (1, 2):
        for order in ok(shop, "GET", "/api/orders", f"/api/orders?page={page}")["data"]["orders"]:
            ok(shop, "GET", "/api/orders/{code}", f"/api/orders/{order['code']}")
            ok(shop, "GET", "/api/orders/{code}", f"/api/orders/{order['code']}?include={order_includes}")
    product_includes = "images,variantParameters,allCategories,flags,perStockAmounts"
    for product in ok(shop, "GET", "/api/products", "/api/products?itemsPerPage=60")["data"]["products"]:
        ok(shop, "GET", "/api/products/{guid}", f"/api/products/{product['guid']}?include={product_includes}")
    for customer in ok(shop, "GET", "/api/customers", "/api/customers?itemsPerPage=90")["data"]["customers"]:
        ok(shop, "GET", "/api/customers/{guid}", f"/api/customers/{customer['guid']}")


def test_order_detail_adds_up_and_uses_shoptet_formats(shop: httpx.Client) -> None:
    code = shop.get("/api/orders").json()["data"]["orders"][0]["code"]
    order = shop.get(f"/api/orders/{code}").json()["data"]["order"]
    cents = sum(int(item["itemPrice"]["withVat"].replace(".", "")) for item in order["items"])
    assert order["price"]["withVat"] == f"{cents // 100}.{cents % 100:02d}"
    assert {"shipping", "billing"} <= {item["itemType"] for item in order["items"]}
    assert datetime.strptime(order["creationTime"], "%Y-%m-%dT%H:%M:%S%z") <= datetime.now(UTC)
    assert order["price"]["currencyCode"] in ("CZK", "EUR")


def test_unknown_entities_are_404_in_the_envelope(shop: httpx.Client) -> None:
    body = ok(shop, "GET", "/api/orders/{code}", "/api/orders/1999000001", 404)
    assert body["errors"][0]["errorCode"] == "order-not-found"
    body = ok(shop, "GET", "/api/products/{guid}", "/api/products/1b02cb8e-d7b5-11e0-9a5c-feab5ed617ed", 404)
    assert body["errors"][0]["errorCode"] == "product-not-found"
    body = ok(shop, "GET", "/api/customers/{guid}", "/api/customers/1b02cb8e-d7b5-11e0-9a5c-feab5ed617ed", 404)
    assert body["errors"][0]["errorCode"] == "customer-not-found"


def test_every_response_carries_its_request_id_in_header_and_metadata(shop: httpx.Client) -> None:
    for url in ("/api/orders", "/api/orders/nope", "/api/orders/changes"):
        response = shop.get(url)
        assert response.headers["X-Request-ID"] == response.json()["metadata"]["requestId"]


def test_an_unencoded_plus_in_a_datetime_is_a_400_that_says_so(shop: httpx.Client) -> None:
    response = shop.get("/api/orders?changeTimeFrom=2025-01-01T00:00:00+0100")
    assert response.status_code == 400
    assert "%2B" in response.json()["errors"][0]["message"]


def test_changes_without_from_is_a_400(shop: httpx.Client) -> None:
    body = ok(shop, "GET", "/api/orders/changes", "/api/orders/changes", 400)
    assert body["errors"][0]["errorCode"] == "missing-parameter"


# --- data ------------------------------------------------------------------------------------------------------


def _strip_request_ids(body: Any) -> Any:
    body["metadata"]["requestId"] = None
    return body


def test_the_same_seed_gives_the_same_shop() -> None:
    bodies = []
    for seed in (5, 5, 6):
        config = small(seed=seed, now=PINNED_NOW)
        with serve_in_thread(config) as base, httpx.Client(base_url=base, headers=TOKEN) as client:
            listing = _strip_request_ids(client.get("/api/orders?page=2").json())
            code = listing["data"]["orders"][0]["code"]
            detail = _strip_request_ids(client.get(f"/api/orders/{code}").json())
            products = _strip_request_ids(client.get("/api/products").json())
            bodies.append((listing, detail, products))
    assert bodies[0] == bodies[1]
    assert bodies[0][1] != bodies[2][1]


def test_items_per_page_over_the_maximum_is_clamped_silently(shop: httpx.Client) -> None:
    for url, maximum in (
        ("/api/orders?itemsPerPage=500", 50),
        ("/api/products?itemsPerPage=5000", 1000),
        ("/api/customers/changes?itemsPerPage=100&from=2000-01-01T00:00:00%2B0100", 20),
    ):
        paginator = shop.get(url).json()["data"]["paginator"]
        assert paginator["itemsPerPage"] == maximum, url


def test_pages_cover_every_order_exactly_once(shop: httpx.Client) -> None:
    first = shop.get("/api/orders").json()["data"]["paginator"]
    assert first == {"totalCount": 240, "page": 1, "pageCount": 5, "itemsOnPage": 50, "itemsPerPage": 50}
    codes = []
    for page in range(1, first["pageCount"] + 1):
        codes += [o["code"] for o in shop.get(f"/api/orders?page={page}").json()["data"]["orders"]]
    assert len(codes) == len(set(codes)) == 240
    assert codes == sorted(codes, reverse=True), "newest first"


def test_status_and_creation_filters_narrow_the_list(shop: httpx.Client) -> None:
    done = shop.get("/api/orders?statusId=-2&itemsPerPage=50").json()["data"]
    assert done["orders"] and all(o["status"]["id"] == -2 for o in done["orders"])
    newest = shop.get("/api/orders").json()["data"]["orders"][0]
    since = newest["creationTime"]
    recent = shop.get("/api/orders", params={"creationTimeFrom": since}).json()["data"]["orders"]
    assert newest["code"] in [o["code"] for o in recent]
    assert all(o["creationTime"] >= since for o in recent)


# --- limits ----------------------------------------------------------------------------------------------------


def test_a_fourth_concurrent_request_on_one_token_is_refused_with_429() -> None:
    async def four_at_once(base: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=base, headers=TOKEN, timeout=10) as client:
            return list(
                await asyncio.gather(
                    *(client.get("/api/orders/changes?from=2000-01-01T00:00:00%2B0100") for _ in range(4))
                )
            )

    with serve_in_thread(small(latency=0.6)) as base:
        statuses = sorted(r.status_code for r in asyncio.run(four_at_once(base)))
        assert statuses == [200, 200, 200, 429]
        assert httpx.get(f"{base}/api/orders/changes?from=2000-01-01T00:00:00%2B0100", headers=TOKEN).status_code == 200


def test_the_bucket_fills_one_drop_per_request_then_refuses_with_an_http_date() -> None:
    config = small(bucket_capacity=5, bucket_leak=0.01)
    with serve_in_thread(config) as base, httpx.Client(base_url=base, headers=TOKEN) as client:
        fillings = [client.get("/api/webhooks").headers["X-RateLimit-Bucket-Filling"] for _ in range(5)]
        assert fillings == ["1/5", "2/5", "3/5", "4/5", "5/5"]
        refused = client.get("/api/webhooks")
    assert refused.status_code == 429
    assert refused.headers["X-RateLimit-Bucket-Filling"] == "5/5"
    retry_after = refused.headers["Retry-After"]
    assert retry_after.endswith(" GMT")
    assert parsedate_to_datetime(retry_after) > datetime.now(UTC)
    validate_response("GET", "/api/webhooks", 429, refused.json())


def test_a_wrong_or_missing_token_is_401_in_the_envelope(shop: httpx.Client) -> None:
    base = str(shop.base_url).rstrip("/")
    wrong = httpx.get(f"{base}/api/orders", headers={"shoptet-private-api-token": "nope"})
    assert wrong.status_code == 401
    validate_response("GET", "/api/orders", 401, wrong.json())
    missing = httpx.get(f"{base}/api/orders")
    assert missing.status_code == 401
    assert missing.json()["errors"][0]["errorCode"] == "missing-access-token"


def test_add_on_access_tokens_are_limited_to_five_and_expire() -> None:
    now = [time.time()]
    app = create_app(small(access_token_ttl=60), clock=lambda: now[0])
    with serve_in_thread(app=app) as base:
        bearer = {"Authorization": "Bearer sim-oauth-token"}
        tokens = []
        for _ in range(5):
            response = httpx.get(f"{base}/action/ApiOAuthServer/getAccessToken", headers=bearer)
            assert response.status_code == 200
            assert response.json()["expires_in"] == 60
            tokens.append(response.json()["access_token"])
        sixth = httpx.get(f"{base}/action/ApiOAuthServer/getAccessToken", headers=bearer)
        assert (sixth.status_code, sixth.json()) == (429, {"error": "maximum_tokens_reached"})
        bad = httpx.get(f"{base}/action/ApiOAuthServer/getAccessToken", headers={"Authorization": "Bearer x"})
        assert bad.status_code == 401

        assert httpx.get(f"{base}/api/orders", headers={"Shoptet-Access-Token": tokens[0]}).status_code == 200
        now[0] += 61
        expired = httpx.get(f"{base}/api/orders", headers={"Shoptet-Access-Token": tokens[0]})
        assert expired.status_code == 401
        assert expired.json()["errors"][0]["errorCode"] == "expired-token"
        assert httpx.get(f"{base}/action/ApiOAuthServer/getAccessToken", headers=bearer).status_code == 200


# --- snapshots -------------------------------------------------------------------------------------------------


def test_a_snapshot_without_the_job_finished_webhook_is_forbidden() -> None:
    with serve_in_thread(small()) as base, httpx.Client(base_url=base, headers=TOKEN) as client:
        body = ok(client, "GET", "/api/orders/snapshot", "/api/orders/snapshot", 403)
        assert body["errors"][0]["instance"] == "job:finished"


def test_an_orders_snapshot_runs_as_a_job_and_yields_gzipped_json_lines(receiver: WebhookReceiver) -> None:
    with serve_in_thread(small()) as base, httpx.Client(base_url=base, headers=TOKEN) as client:
        register(client, "job:finished", receiver.url)
        key = ok(client, "POST", "/api/webhooks/renew-signature-key", "/api/webhooks/renew-signature-key")
        job_id = ok(client, "GET", "/api/orders/snapshot", "/api/orders/snapshot?include=notes", 202)["data"]["jobId"]
        assert ok(client, "GET", "/api/system/jobs/{jobId}", f"/api/system/jobs/{job_id}")["data"]["job"]["status"] in (
            "pending",
            "running",
        )

        headers, raw = receiver.next()
        assert signed_by(key["data"]["signatureKey"], headers, raw)
        notification = json.loads(raw)
        assert notification["event"] == "job:finished" and notification["eventInstance"] == job_id

        job = ok(client, "GET", "/api/system/jobs/{jobId}", f"/api/system/jobs/{job_id}")["data"]["job"]
        assert job["status"] == "completed"
        valid_for = datetime.strptime(job["validUntil"], "%Y-%m-%dT%H:%M:%S%z") - datetime.strptime(
            job["completionTime"], "%Y-%m-%dT%H:%M:%S%z"
        )
        assert valid_for.total_seconds() == 24 * 3600
        download = httpx.get(job["resultUrl"])  # no token: Shoptet's result URLs are open
        assert download.status_code == 200
        lines = gzip.decompress(download.content).splitlines()
    assert len(lines) == 240
    for line in lines:
        validate_schema("orderSnapshot", json.loads(line))


def test_polling_an_unfinished_job_more_than_ten_times_is_forbidden(receiver: WebhookReceiver) -> None:
    with serve_in_thread(small(job_delay=30)) as base, httpx.Client(base_url=base, headers=TOKEN) as client:
        register(client, "job:finished", receiver.url)
        job_id = client.get("/api/customers/snapshot").json()["data"]["jobId"]
        for _ in range(10):
            assert client.get(f"/api/system/jobs/{job_id}").status_code == 200
        body = ok(client, "GET", "/api/system/jobs/{jobId}", f"/api/system/jobs/{job_id}", 403)
        assert body["errors"][0]["errorCode"] == "job-detail-try-counter-exceeded-limit"
        body = ok(client, "GET", "/api/system/jobs/{jobId}", "/api/system/jobs/unknown", 404)
        assert body["errors"][0]["errorCode"] == "job-not-found"


# --- webhooks and shop traffic ---------------------------------------------------------------------------------


def test_one_url_per_event_and_a_duplicate_is_422(receiver: WebhookReceiver) -> None:
    with serve_in_thread(small()) as base, httpx.Client(base_url=base, headers=TOKEN) as client:
        hook = register(client, "order:create", receiver.url)
        again = client.post("/api/webhooks", json={"data": [{"event": "order:create", "url": receiver.url}]})
        assert again.status_code == 422
        assert again.json()["errors"][0]["message"] == "Webhook already exists for this event"
        ok(client, "DELETE", "/api/webhooks/{id}", f"/api/webhooks/{hook['id']}")
        ok(client, "DELETE", "/api/webhooks/{id}", f"/api/webhooks/{hook['id']}", 404)
        register(client, "order:create", receiver.url)


def test_advance_creates_and_changes_orders_that_incremental_sync_sees(receiver: WebhookReceiver) -> None:
    with serve_in_thread(small()) as base, httpx.Client(base_url=base, headers=TOKEN) as client:
        register(client, "order:create", receiver.url)
        key = client.post("/api/webhooks/renew-signature-key").json()["data"]["signatureKey"]
        since = format_time(time.time() - 1)
        moved = client.post("/_sim/advance?new_orders=3&changed_orders=4").json()
        assert len(moved["created"]) == 3 and len(moved["changed"]) == 4

        listed = ok(client, "GET", "/api/orders", "/api/orders", params={"changeTimeFrom": since})["data"]
        assert {o["code"] for o in listed["orders"]} == set(moved["created"]) | set(moved["changed"])
        changes = client.get("/api/orders/changes", params={"from": since}).json()["data"]["changes"]
        assert {c["code"] for c in changes} == set(moved["created"]) | set(moved["changed"])
        for code in moved["created"]:
            ok(client, "GET", "/api/orders/{code}", f"/api/orders/{code}")

        notified = set()
        for _ in moved["created"]:
            headers, raw = receiver.next()
            assert signed_by(key, headers, raw)
            notified.add(json.loads(raw)["eventInstance"])
        assert notified == set(moved["created"])
        stats = client.get("/_sim/stats").json()
        assert stats["orders"] == 243


# --- faults ----------------------------------------------------------------------------------------------------


def _malformed_codes(base: str, codes: list[str]) -> set[str]:
    broken = set()
    with httpx.Client(base_url=base, headers=TOKEN) as client:
        for code in codes:
            response = client.get(f"/api/orders/{code}")
            try:
                validate_response("GET", "/api/orders/{code}", 200, response.json())
            except (ValueError, AssertionError):
                broken.add(code)
    return broken


def test_malformed_records_are_the_same_in_every_run() -> None:
    config = small(malformed_rate=0.2, now=PINNED_NOW)
    found = []
    for _ in range(2):
        with serve_in_thread(config) as base:
            listing = httpx.get(f"{base}/api/orders?itemsPerPage=50", headers=TOKEN).json()["data"]["orders"]
            found.append(_malformed_codes(base, [o["code"] for o in listing]))
    assert found[0] == found[1]
    assert 2 <= len(found[0]) <= 25


def test_error_rate_answers_shoptet_style_500s_and_503s() -> None:
    with serve_in_thread(small(error_rate=1.0)) as base, httpx.Client(base_url=base, headers=TOKEN) as client:
        responses = [client.get("/api/orders") for _ in range(12)]
    assert {r.status_code for r in responses} == {500, 503}
    for response in responses:
        validate_response("GET", "/api/orders", response.status_code, response.json())


# --- CLI -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--leak", "ten"], "not a rate"),
        (["--latency", "50 parsecs"], "not a duration"),
        (["--churn", "often"], "not a duration"),
        (["--error-rate", "1.5"], "outside 0–1"),
        (["--malformed-rate", "lots"], "not a fraction"),
        (["--leak", "0/s"], "must be positive"),
    ],
)
def test_cli_rejects_bad_values_with_a_clear_message(args: list[str], message: str) -> None:
    result = CliRunner().invoke(sim_cli, ["shoptet", *args])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_churn_keeps_orders_flowing_on_its_own() -> None:
    with serve_in_thread(small(churn_interval=0.1, churn_new_orders=2, churn_changed_orders=1)) as base:
        deadline = time.monotonic() + 5
        stats: dict[str, Any] = {}
        while time.monotonic() < deadline:
            stats = httpx.get(f"{base}/_sim/stats").json()
            if stats["orders_created"] >= 4:
                break
            time.sleep(0.05)
    assert stats["orders_created"] >= 4 and stats["orders_changed"] >= 2
    assert stats["orders"] == 240 + stats["orders_created"]


def test_a_duplicate_write_in_flight_is_locked_with_423() -> None:
    async def renew_twice(base: str) -> list[int]:
        async with httpx.AsyncClient(base_url=base, headers=TOKEN, timeout=10) as client:
            url = "/api/webhooks/renew-signature-key"
            responses = await asyncio.gather(client.post(url), client.post(url))
            return sorted(r.status_code for r in responses)

    with serve_in_thread(small(latency=0.4)) as base:
        assert asyncio.run(renew_twice(base)) == [200, 423]
        assert httpx.post(f"{base}/api/webhooks/renew-signature-key", headers=TOKEN).status_code == 200
