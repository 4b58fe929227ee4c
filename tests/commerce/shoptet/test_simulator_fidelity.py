"""Simulator fidelity (issue #11, item 5): product includes, discount lines, request cost, errored jobs.

Each test talks to a real simulator on loopback, as a client would, and checks shapes against Shoptet's
official OpenAPI file.
"""

from __future__ import annotations

import gzip
import json
import time
from decimal import Decimal
from typing import Any

import httpx

from conveyor.commerce.shoptet.simulator import create_app, serve_in_thread
from conveyor.commerce.shoptet.simulator.data import PRICELISTS
from tests.commerce.shoptet.openapi import validate_schema
from tests.commerce.shoptet.test_simulator import TOKEN, WebhookReceiver, ok, register, small

NEW_INCLUDES = "descriptiveParameters,perPricelistPrices"


def _wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


# --- includes --------------------------------------------------------------------------------------------------


def test_product_detail_renders_descriptive_parameters_and_per_pricelist_prices() -> None:
    with serve_in_thread(small(seed=4)) as base, httpx.Client(base_url=base, headers=TOKEN) as client:
        guid = client.get("/api/products").json()["data"]["products"][0]["guid"]
        plain = ok(client, "GET", "/api/products/{guid}", f"/api/products/{guid}")["data"]
        full = ok(client, "GET", "/api/products/{guid}", f"/api/products/{guid}?include={NEW_INCLUDES}")["data"]

    assert "descriptiveParameters" not in plain and "perPricelistPrices" not in plain["variants"][0]
    assert {p["name"] for p in full["descriptiveParameters"]} >= {"Kategorie", "Záruka"}
    for variant in full["variants"]:
        prices = variant["perPricelistPrices"]
        assert [p["pricelistId"] for p in prices] == [pricelist[0] for pricelist in PRICELISTS]
        assert all(p["code"] == variant["code"] for p in prices)
        retail, wholesale = (Decimal(p["price"]["price"]) for p in prices)
        assert retail == Decimal(variant["price"]) and wholesale < retail


def test_a_products_snapshot_carries_the_new_includes_per_the_snapshot_schema() -> None:
    receiver = WebhookReceiver()
    try:
        with serve_in_thread(small(seed=4)) as base, httpx.Client(base_url=base, headers=TOKEN) as client:
            register(client, "job:finished", receiver.url)
            url = f"/api/products/snapshot?include={NEW_INCLUDES}"
            job_id = ok(client, "GET", "/api/products/snapshot", url, 202)["data"]["jobId"]
            receiver.next()
            job = client.get(f"/api/system/jobs/{job_id}").json()["data"]["job"]
            lines = [json.loads(line) for line in gzip.decompress(httpx.get(job["resultUrl"]).content).splitlines()]
    finally:
        receiver.close()

    assert len(lines) == 60
    for product in lines:
        validate_schema("productSnapshot", product)
        assert product["descriptiveParameters"] and product["variants"][0]["perPricelistPrices"]


# --- discount lines --------------------------------------------------------------------------------------------


def test_orders_carry_discount_lines_with_negative_prices_counted_in_the_totals() -> None:
    with serve_in_thread(small(seed=3)) as base, httpx.Client(base_url=base, headers=TOKEN) as client:
        codes = [
            o["code"] for page in range(1, 6) for o in client.get(f"/api/orders?page={page}").json()["data"]["orders"]
        ]
        details = [client.get(f"/api/orders/{code}").json()["data"]["order"] for code in codes]

    discounted = [
        o for o in details if any(i["itemType"] in ("discount-coupon", "volume-discount") for i in o["items"])
    ]
    assert discounted, "some of 240 orders should have a discount"
    assert len(discounted) < len(details) / 2, "but most should not"
    for order in discounted:
        validate_schema("orderSnapshot", order)  # the detail's shape is the snapshot line's
        for line in (i for i in order["items"] if i["itemType"] in ("discount-coupon", "volume-discount")):
            assert line["code"] is None and line["amount"] == "1.000"
            assert Decimal(line["itemPrice"]["withVat"]) < 0 and Decimal(line["itemPrice"]["withoutVat"]) < 0
            assert line["itemPrice"] == line["unitPrice"]
            assert Decimal(line["itemPrice"]["withoutVat"]) + Decimal(line["itemPrice"]["vat"]) == Decimal(
                line["itemPrice"]["withVat"]
            )
        for key in ("withVat", "withoutVat"):
            assert sum(Decimal(i["itemPrice"][key]) for i in order["items"]) == Decimal(order["price"][key]), key
        assert Decimal(order["price"]["withVat"]) > 0


# --- request cost ----------------------------------------------------------------------------------------------


def test_a_request_weighs_in_the_bucket_by_the_size_of_its_response() -> None:
    config = small(bucket_capacity=10_000, bucket_leak=0.001, bytes_per_drop=4_096)
    with serve_in_thread(config) as base, httpx.Client(base_url=base, headers=TOKEN) as client:
        small_reply = client.get("/api/webhooks")
        big_reply = client.get("/api/products?itemsPerPage=60")

    def level(response: httpx.Response) -> int:
        return int(response.headers["X-RateLimit-Bucket-Filling"].split("/")[0])

    assert level(small_reply) == 1  # one drop: a tiny body weighs only the fixed part
    assert level(big_reply) - level(small_reply) == 1 + len(big_reply.content) // 4_096
    assert len(big_reply.content) >= 2 * 4_096


# --- errored jobs ----------------------------------------------------------------------------------------------


def test_an_errored_job_reads_running_until_three_hours_after_creation_then_failed_without_job_finished() -> None:
    now = [time.time()]
    app = create_app(small(job_error_rate=1.0, job_delay=0.05), clock=lambda: now[0])
    sim = app.state.simulator
    receiver = WebhookReceiver()
    try:
        with serve_in_thread(app=app) as base, httpx.Client(base_url=base, headers=TOKEN) as client:
            register(client, "job:finished", receiver.url)
            job_id = client.get("/api/orders/snapshot").json()["data"]["jobId"]
            _wait_for(lambda: sim.stats["jobs_errored"] == 1)

            before = ok(client, "GET", "/api/system/jobs/{jobId}", f"/api/system/jobs/{job_id}")["data"]["job"]
            now[0] += 3 * 3600 - 1
            still = client.get(f"/api/system/jobs/{job_id}").json()["data"]["job"]
            now[0] += 1
            after = ok(client, "GET", "/api/system/jobs/{jobId}", f"/api/system/jobs/{job_id}")["data"]["job"]
            listed = client.get("/api/system/jobs?status=failed").json()["data"]["jobs"]
    finally:
        receiver.close()

    assert (before["status"], before["resultUrl"], before["log"]) == ("running", None, None)
    assert still["status"] == "running"
    assert after["status"] == "failed" and "export failed" in after["log"]
    assert after["duration"] == f"{3 * 3600:.3f}" and after["resultUrl"] is None
    assert [j["jobId"] for j in listed] == [job_id]
    assert sim.stats["webhooks_queued"] == 0, "no job:finished for an errored job"
    assert receiver.received.empty()
