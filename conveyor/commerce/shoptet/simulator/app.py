"""The Shoptet API simulator: a FastAPI app that answers like ``https://api.myshoptet.com`` does.

Users demo and load-test Conveyor's Shoptet pipelines against it, and Conveyor's own tests drive the Shoptet
client with it, so it follows Shoptet's official OpenAPI file (``shoptet/developers`` openapi/openapi.yaml) to
the field: the ``data``/``errors``/``metadata`` envelope, ``X-Request-ID``, datetimes like
``2017-12-12T22:08:01+0100``, money as ``"123.00"``, paginators, clamped ``itemsPerPage``, the asynchronous
snapshot flow (202 → ``/api/system/jobs/{jobId}`` → gzipped JSON Lines at ``resultUrl``) and signed webhooks.
It also applies Shoptet's limits (see ``limits.py``) and can inject latency, server errors and malformed records.

Where the spec is silent the simulator makes a choice and says so here:

* Lists are returned newest first (orders by code descending); change logs oldest first.
* 429 bodies use the usual envelope with ``errorCode`` ``too-many-connections`` (concurrency) or
  ``rate-limit-exceeded`` (bucket); the real bodies are not documented.
* A snapshot without the ``job:finished`` webhook answers 403 ``job-finished-webhook-missing``.
* ``/action/ApiOAuthServer/getAccessToken`` answers in the OAuth server's own format, as the official PHP SDK
  reads it: ``{"access_token": …, "expires_in": …}``; errors ``{"error": "maximum_tokens_reached"}`` (429) and
  ``{"error": "Unauthorized"}`` (401).
* Webhook URLs may use any port (Shoptet allows only 80, 8080, 443 and 8443), so tests can listen anywhere.
  Notifications are retried ``webhook_attempts`` times, ``webhook_retry_delay`` apart (Shoptet: 3 × 15 min).
* Snapshot results are served at ``/api-results/<jobId>-<random>.json`` as ``application/gzip``, without
  ``Content-Encoding`` (a client must gunzip the body itself, as with Shoptet's files) and without a token.
* Writes (webhook registration, deletion, key renewal) hold a per-URL lock while they run: a duplicate in
  flight gets 423 ``request-locked``.
* Unknown ``include`` values are ignored; ``include=variants`` is accepted for products (variants always come).
  Products render ``images``, ``variantParameters``, ``allCategories``, ``flags``, ``perStockAmounts``,
  ``descriptiveParameters`` and ``perPricelistPrices`` (two price lists: 1 retail, 2 wholesale at 12 % off).
* Orders may carry ``discount-coupon`` and ``volume-discount`` lines: one line each, ``code`` null, negative
  ``itemPrice``/``unitPrice`` with ``amount`` 1, included in the order's totals.
* A request weighs ``drops_per_request`` plus one drop per ``bytes_per_drop`` bytes of its response body in the
  leaky bucket (Shoptet weighs by "complexity" after running the request, without publishing the weights).
* A snapshot job that errors (``job_error_rate``, or a real failure writing its file) looks ``running`` until
  ``job_time_limit`` after its creation (Shoptet: 3 hours), then ``failed``, and no ``job:finished`` is sent.

Endpoints outside Shoptet's API live under ``/_sim/``: ``POST /_sim/advance`` and ``GET /_sim/stats``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gzip
import hashlib
import heapq
import hmac
import itertools
import json
import logging
import math
import os
import queue
import random
import secrets
import shutil
import string
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from conveyor.commerce.shoptet.simulator.data import (
    ORDER_STATUSES,
    SHIPPING_METHODS,
    ShopData,
    format_time,
    parse_time,
)
from conveyor.commerce.shoptet.simulator.limits import ConcurrencyLimiter, LeakyBuckets, WriteLocks, http_date

__all__ = ["ApiError", "Simulator", "SimulatorConfig", "create_app"]

log = logging.getLogger("conveyor.commerce.shoptet.simulator")

DEFAULT_PRIVATE_TOKEN = "sim-private-token"
DEFAULT_OAUTH_TOKEN = "sim-oauth-token"

# Webhook event types from the spec's code list that the simulator accepts for registration.
WEBHOOK_EVENTS = frozenset(
    [
        "availability:create", "availability:update", "availability:delete", "brand:create", "brand:update",
        "brand:delete", "category:create", "category:update", "category:delete", "creditNote:create",
        "creditNote:delete", "creditNote:update", "customer:create", "customer:update", "customer:disableOrders",
        "customer:enableOrders", "customer:import", "customer:delete", "customerGroup:create", "customerGroup:update",
        "customerGroup:delete", "deliveryNote:create", "deliveryNote:delete", "deliveryNote:update",
        "discountCoupon:create", "discountCoupon:delete", "discountCoupon:update", "eshop:currencies",
        "eshop:billingInformation", "eshop:settingsInformation", "eshop:design", "eshop:mandatoryFields",
        "eshop:projectDomain", "invoice:create", "invoice:delete", "invoice:update", "job:finished",
        "mailingListEmail:create", "mailingListEmail:delete", "order:cancel", "order:create", "order:delete",
        "order:paid", "order:update", "orderHistoryRemarks:change", "orderStatusesList:change", "pricelist:create",
        "pricelist:delete", "paymentMethod:change", "proformaInvoice:create", "proformaInvoice:delete",
        "proformaInvoice:update", "projectReview:create", "productReview:created", "proofPayment:create",
        "proofPayment:delete", "proofPayment:update", "quantityDiscount:create", "quantityDiscount:update",
        "quantityDiscount:delete", "salesChannel:create", "salesChannel:update", "salesChannel:delete",
        "shipment:create", "shipment:update", "shipment:fail", "shippingMethod:change", "sectionArticle:create",
        "sectionArticle:update", "sectionArticle:delete", "shippingRequest:cancelled", "shippingRequest:confirmed",
        "stock:movement", "stock:inStock", "stock:soldOut", "stock:minStockSupplyReached", "supplier:create",
        "supplier:update", "supplier:delete", "warranty:create", "warranty:update", "warranty:delete", "product:create",
        "product:update", "product:delete", "productVariant:create", "productVariant:update", "productVariant:delete",
        "productVariantPrice:update", "category:massCreate", "category:massUpdate", "category:massDelete",
        "discountCoupon:massCreate", "discountCoupon:massDelete", "invoice:massUpdate", "order:massCreate",
        "order:massUpdate", "order:massPaid", "quantityDiscount:massDelete", "quantityDiscount:massUpdate",
    ]
)  # fmt: skip

_ORDER_INCLUDES = frozenset(
    {
        "notes",
        "images",
        "shippingDetails",
        "stockLocation",
        "surchargeParameters",
        "paymentTransactions",
        "productFlags",
    }
)
_PRODUCT_INCLUDES = frozenset(
    {
        "images",
        "variantParameters",
        "allCategories",
        "flags",
        "perStockAmounts",
        "descriptiveParameters",
        "perPricelistPrices",
    }
)
# Required fields a "missing-field" malformed record loses, per kind, picked by index.
_DROPPABLE = {
    "orders": ("items", "price", "creationTime", "status"),
    "products": ("variants", "guid", "changeTime"),
    "customers": ("guid", "billingAddress", "changeTime"),
}


# ---------------------------------------------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything that shapes one simulated shop. Defaults mirror Shoptet's documented limits.

    Times are seconds. ``now`` pins the end of the generated history so two runs with the same seed produce the
    same responses; by default the history ends at start-up. ``churn_interval`` (when set) makes the shop create
    ``churn_new_orders`` and change ``churn_changed_orders`` orders every so often, as a live shop would.

    Limits: ``concurrency`` requests in flight per token; a bucket of ``bucket_capacity`` drops per token
    (per OAuth token for add-on access tokens) leaking ``bucket_leak`` drops/s, each request adding
    ``drops_per_request`` plus one per ``bytes_per_drop`` bytes of its response (a 50-order page weighs ~3 drops,
    1,000 products ~40). Faults: ``latency`` added to every API request (the connection stays open, so it
    counts against ``concurrency``), ``error_rate`` of requests answered 500/503, ``malformed_rate`` of records
    served as invalid JSON or without a required field (the same records for the same seed). Jobs: snapshots
    take at least ``job_delay``; an unfinished job polled more than ``job_max_polls`` times answers 403; results
    stay ``result_ttl`` (in ``result_dir``, default a temporary directory removed at shutdown). A share
    ``job_error_rate`` of jobs errors: such a job stays ``running`` until ``job_time_limit`` after its creation,
    then reads ``failed``, and never sends ``job:finished`` (as Shoptet's errored jobs do).
    """

    seed: int = 1
    orders: int = 2_000
    products: int = 500
    customers: int = 1_000
    now: float | None = None
    eshop_id: int = 222_651
    eshop_domain: str = "sim-eshop.myshoptet.com"
    private_tokens: tuple[str, ...] = (DEFAULT_PRIVATE_TOKEN,)
    oauth_tokens: tuple[str, ...] = (DEFAULT_OAUTH_TOKEN,)
    access_token_ttl: float = 1_800.0
    max_access_tokens: int = 5
    concurrency: int = 3
    bucket_capacity: int = 200
    bucket_leak: float = 10.0
    drops_per_request: int = 1
    bytes_per_drop: int = 16_384
    latency: float = 0.0
    error_rate: float = 0.0
    malformed_rate: float = 0.0
    job_delay: float = 2.0
    job_max_polls: int = 10
    job_error_rate: float = 0.0
    job_time_limit: float = 3 * 3_600.0
    job_workers: int = 2
    result_ttl: float = 24 * 3_600.0
    result_dir: str | None = None
    webhook_timeout: float = 4.0
    webhook_attempts: int = 3
    webhook_retry_delay: float = 15.0
    churn_interval: float | None = None
    churn_new_orders: int = 2
    churn_changed_orders: int = 3
    #: Seconds the shop's clock is ahead of (positive) or behind (negative) this machine's: change times,
    #: webhooks' eventCreated and the ``Date`` header all follow it, as a real Shoptet's would.
    clock_skew: float = 0.0

    def __post_init__(self) -> None:
        problems = []
        for name in ("orders", "customers", "drops_per_request", "job_max_polls"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must not be negative")
        for name in (
            "products",
            "concurrency",
            "bucket_capacity",
            "bytes_per_drop",
            "max_access_tokens",
            "job_workers",
        ):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1")
        for name in ("error_rate", "malformed_rate", "job_error_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                problems.append(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        for name in ("latency", "job_delay", "webhook_retry_delay", "job_time_limit"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must not be negative")
        if self.bucket_leak <= 0:
            problems.append("bucket_leak must be positive")
        if self.churn_interval is not None and self.churn_interval <= 0:
            problems.append("churn_interval must be positive")
        if self.webhook_attempts < 1:
            problems.append("webhook_attempts must be at least 1")
        if not self.private_tokens and not self.oauth_tokens:
            problems.append("configure at least one private token or OAuth token, or nobody can call the API")
        if problems:
            raise ValueError("invalid simulator configuration: " + "; ".join(problems))


# ---------------------------------------------------------------------------------------------------------------
# Envelope and errors


class ApiError(Exception):
    """An error answered in Shoptet's envelope: ``{"data": null, "errors": [...], "metadata": {...}}``."""

    def __init__(
        self, status: int, code: str, message: str, instance: str = "unknown", headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.instance = instance
        self.headers = headers or {}


def request_id() -> str:
    """A time-ordered UUIDv7, the shape of Shoptet's request ids (``019c8c34-64f3-7328-…``)."""
    ms = time.time_ns() // 1_000_000
    rand = secrets.randbits(74)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (rand >> 62) << 64 | 0b10 << 62 | (rand & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))


def _dumps(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


class ShoptetJSON(Response):
    media_type = "application/json; charset=utf-8"

    def render(self, content: Any) -> bytes:
        return content if isinstance(content, bytes) else _dumps(content)


def _truncated(document: bytes) -> bytes:
    """A JSON document cut off two thirds of the way in: what a dropped connection or a buggy proxy delivers."""
    return document[: len(document) * 2 // 3]


def _rid(request: Request) -> str:
    rid = getattr(request.state, "request_id", None)
    return rid if isinstance(rid, str) else request_id()


def envelope(request: Request, data: Any, status: int = 200, errors: list[dict[str, str]] | None = None) -> Response:
    return ShoptetJSON({"data": data, "errors": errors, "metadata": {"requestId": _rid(request)}}, status_code=status)


def error_body(code: str, message: str, instance: str, rid: str) -> dict[str, Any]:
    return {
        "data": None,
        "errors": [{"errorCode": code, "message": message, "instance": instance}],
        "metadata": {"requestId": rid},
    }


# ---------------------------------------------------------------------------------------------------------------
# Query parameters


def _int_param(request: Request, name: str, default: int | None = None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(
            400, "invalid-parameter", f'Invalid "{name}" parameter. Expected integer, got "{raw}".', name
        ) from None


def _time_param(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return parse_time(raw)
    except ValueError as exc:
        raise ApiError(400, "invalid-parameter", f'Invalid "{name}" parameter: {exc}.', name) from None


def _list_param(request: Request, name: str, limit: int = 50) -> list[str] | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    values = [v.strip() for v in raw.split(",") if v.strip()]
    if not values:
        raise ApiError(400, "missing-parameter", f'Missing value for parameter "{name}".', name)
    if len(values) > limit:
        raise ApiError(
            400,
            "invalid-parameter",
            f'Invalid "{name}" parameter. Expected max. {limit} elements, but {len(values)} given.',
            name,
        )
    return values


def _include(request: Request, known: frozenset[str]) -> frozenset[str]:
    """Requested ``include`` sections this simulator renders; others are accepted and ignored."""
    raw = request.query_params.get("include") or ""
    return frozenset(part.strip() for part in raw.split(",") if part.strip() in known)


def _paging(request: Request, default: int, maximum: int) -> tuple[int, int]:
    """(page, itemsPerPage); an itemsPerPage over ``maximum`` is clamped silently, as Shoptet does."""
    page = _int_param(request, "page", 1)
    per_page = _int_param(request, "itemsPerPage", default)
    assert page is not None and per_page is not None
    if page < 1:
        raise ApiError(
            400, "invalid-parameter", f'Invalid "page" parameter. Expected positive integer, got {page}.', "page"
        )
    if per_page < 1:
        raise ApiError(
            400,
            "invalid-parameter",
            f'Invalid "itemsPerPage" parameter. Expected positive integer, got {per_page}.',
            "itemsPerPage",
        )
    return page, min(per_page, maximum)


def _within(value: float, low: float | None, high: float | None) -> bool:
    """``low <= value <= high``, an open bound when None (Shoptet's From/To filters are inclusive)."""
    return (low is None or value >= low) and (high is None or value <= high)


def _paginate(total: int, page: int, per_page: int) -> tuple[slice, dict[str, int]]:
    start = (page - 1) * per_page
    on_page = max(0, min(per_page, total - start))
    paginator = {
        "totalCount": total,
        "page": page,
        "pageCount": math.ceil(total / per_page),
        "itemsOnPage": on_page,
        "itemsPerPage": per_page,
    }
    return slice(start, start + on_page), paginator


# ---------------------------------------------------------------------------------------------------------------
# Tokens


@dataclass
class AccessToken:
    token: str
    oauth_token: str
    expires_at: float


class TokenStore:
    """Private API tokens (fixed) and API access tokens issued against OAuth tokens (at most N valid each)."""

    def __init__(self, config: SimulatorConfig, clock: Callable[[], float]) -> None:
        self.private = frozenset(config.private_tokens)
        self.oauth = frozenset(config.oauth_tokens)
        self.ttl = config.access_token_ttl
        self.max_per_oauth = config.max_access_tokens
        self.eshop_id = config.eshop_id
        self._clock = clock
        self._issued: dict[str, AccessToken] = {}
        self._lock = threading.Lock()

    def issue(self, oauth_token: str) -> AccessToken | None:
        """A new access token, or None when ``max_per_oauth`` unexpired ones already exist."""
        with self._lock:
            now = self._clock()
            for token in [t for t, a in self._issued.items() if a.expires_at <= now - 86_400]:
                del self._issued[token]  # forget long-expired tokens; recent ones still answer "expired"
            valid = sum(1 for a in self._issued.values() if a.oauth_token == oauth_token and a.expires_at > now)
            if valid >= self.max_per_oauth:
                return None
            token = f"{self.eshop_id}-a-{secrets.randbelow(900) + 100}-{secrets.token_hex(16).upper()}"
            issued = AccessToken(token, oauth_token, now + self.ttl)
            self._issued[token] = issued
            return issued

    def authenticate(self, private: str | None, access: str | None) -> str:
        """The bucket key of a valid token; ApiError 401 otherwise. The private token wins if both are sent."""
        if private is not None:
            if private in self.private:
                return f"private:{private}"
            raise ApiError(401, "invalid-token", "Invalid access token. Check the Shoptet-Private-Api-Token header.")
        if access is not None:
            with self._lock:
                issued = self._issued.get(access)
            if issued is None:
                raise ApiError(401, "invalid-token", "Invalid access token. Please ask for new one.")
            if issued.expires_at <= self._clock():
                raise ApiError(401, "expired-token", "Token is expired. Please ask for new one.")
            # The leaky bucket is per add-on installation, shared by all access tokens of one OAuth token.
            return f"oauth:{issued.oauth_token}"
        raise ApiError(
            401,
            "missing-access-token",
            "Missing access token. Please add `Shoptet-Access-Token` header to your request.",
        )


# ---------------------------------------------------------------------------------------------------------------
# Webhooks


@dataclass
class Webhook:
    id: int
    event: str
    url: str
    created: float
    updated: float
    send_payload: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event": self.event,
            "url": self.url,
            "created": format_time(self.created),
            "updated": format_time(self.updated),
            "sendPayload": self.send_payload,
        }


@dataclass(order=True)
class _Delivery:
    due: float
    seq: int
    url: str = field(compare=False)
    body: bytes = field(compare=False)
    event: str = field(compare=False)
    attempt: int = field(default=1, compare=False)


class WebhookDeliverer:
    """Posts notifications from a background thread, signing each with the current key, retrying failures.

    A notification that fails ``attempts`` times is logged and dropped: a broken receiver never stops the shop.
    """

    def __init__(
        self,
        key: Callable[[], str],
        *,
        attempts: int,
        retry_delay: float,
        timeout: float,
        stats: Counter[str],
    ) -> None:
        self._key = key
        self._attempts = attempts
        self._retry_delay = retry_delay
        self._timeout = timeout
        self._stats = stats
        self._inbox: queue.Queue[_Delivery | None] = queue.Queue()
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="shoptet-sim-webhooks", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread is not None:
            self._inbox.put(None)
            self._thread.join(timeout)
            self._thread = None

    def submit(self, url: str, event: str, body: bytes) -> None:
        self._inbox.put(_Delivery(time.monotonic(), next(self._seq), url, body, event))

    def _run(self) -> None:
        waiting: list[_Delivery] = []
        with httpx.Client(timeout=self._timeout) as client:
            while True:
                timeout = max(0.0, waiting[0].due - time.monotonic()) if waiting else None
                try:
                    item = self._inbox.get(timeout=timeout)
                    if item is None:
                        return
                    heapq.heappush(waiting, item)
                except queue.Empty:
                    pass
                while waiting and waiting[0].due <= time.monotonic():
                    self._send(client, heapq.heappop(waiting), waiting)

    def _send(self, client: httpx.Client, delivery: _Delivery, waiting: list[_Delivery]) -> None:
        signature = hmac.new(self._key().encode(), delivery.body, hashlib.sha1).hexdigest()
        headers = {"Content-Type": "application/json", "Shoptet-Webhook-Signature": signature}
        try:
            response = client.post(delivery.url, content=delivery.body, headers=headers)
            if response.status_code >= 300:
                raise httpx.HTTPStatusError(f"HTTP {response.status_code}", request=response.request, response=response)
        except httpx.HTTPError as exc:
            if delivery.attempt < self._attempts:
                delivery.attempt += 1
                delivery.due = time.monotonic() + self._retry_delay
                heapq.heappush(waiting, delivery)
                self._stats["webhook_retries"] += 1
                log.warning("webhook %s to %s failed (%s); retrying", delivery.event, delivery.url, exc)
            else:
                self._stats["webhooks_failed"] += 1
                log.warning("webhook %s to %s failed (%s); giving up", delivery.event, delivery.url, exc)
            return
        self._stats["webhooks_delivered"] += 1


# ---------------------------------------------------------------------------------------------------------------
# Snapshot jobs


@dataclass
class Job:
    job_id: str
    endpoint: str
    kind: str  # orders | products | customers
    params: dict[str, Any]
    base_url: str
    created: float
    status: str = "pending"
    completed: float | None = None
    duration: float | None = None
    path: Path | None = None
    result_name: str | None = None
    log: str | None = None
    polls: int = 0
    lines: int = 0
    doomed: bool = False  # picked by job_error_rate: this job will error
    fails_at: float | None = None  # set when the job errored: when it turns "failed" (creation + time limit)

    def status_at(self, now: float) -> str:
        """The status a client sees now: an errored job reads ``running`` until its time limit, then ``failed``."""
        if self.fails_at is not None:
            return "failed" if now >= self.fails_at else "running"
        return self.status

    def valid_until(self, ttl: float) -> float | None:
        return self.completed + ttl if self.completed is not None and self.result_name is not None else None

    def as_json(self, ttl: float, now: float) -> dict[str, Any]:
        until = self.valid_until(ttl)
        status = "expired" if until is not None and until <= now else self.status_at(now)
        completed, duration = self.completed, self.duration
        if self.fails_at is not None and status == "failed":
            completed, duration = self.fails_at, self.fails_at - self.created
        return {
            "jobId": self.job_id,
            "endpoint": self.endpoint,
            "creationTime": format_time(self.created),
            "completionTime": format_time(completed) if completed is not None else None,
            "duration": f"{duration:.3f}" if duration is not None else None,
            "status": status,
            "resultUrl": f"{self.base_url}api-results/{self.result_name}" if self.result_name else None,
            "validUntil": format_time(until) if until is not None else None,
            "log": self.log if status != "running" else None,
        }

    def summary(self, ttl: float, now: float) -> dict[str, Any]:
        full = self.as_json(ttl, now)
        return {k: full[k] for k in ("jobId", "endpoint", "creationTime", "completionTime", "status", "validUntil")}


# ---------------------------------------------------------------------------------------------------------------
# The simulator


class Simulator:
    """The state behind one simulator app: shop data, tokens, limits, jobs, webhooks and counters."""

    def __init__(self, config: SimulatorConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.started = clock()
        self.data = ShopData(
            seed=config.seed,
            orders=config.orders,
            products=config.products,
            customers=config.customers,
            now=config.now if config.now is not None or not config.clock_skew else clock(),
            eshop_domain=config.eshop_domain,
        )
        self.tokens = TokenStore(config, clock)
        self.connections = ConcurrencyLimiter(config.concurrency)
        self.buckets = LeakyBuckets(config.bucket_capacity, config.bucket_leak)
        self.write_locks = WriteLocks()
        self.stats: Counter[str] = Counter()
        self.status_counts: Counter[int] = Counter()
        self._fault_rng = random.Random(config.seed)
        self.lock = threading.Lock()  # guards webhooks and jobs
        self.webhooks: dict[int, Webhook] = {}
        self.webhook_ids = itertools.count(1)
        self.signature_key = secrets.token_hex(16)
        self.deliverer = WebhookDeliverer(
            lambda: self.signature_key,
            attempts=config.webhook_attempts,
            retry_delay=config.webhook_retry_delay,
            timeout=config.webhook_timeout,
            stats=self.stats,
        )
        self.jobs: dict[str, Job] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._stopping = threading.Event()
        self._own_result_dir = config.result_dir is None
        self.result_dir = Path(config.result_dir or tempfile.mkdtemp(prefix="shoptet-sim-results-"))

    # --- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> None:
        self.result_dir.mkdir(parents=True, exist_ok=True)
        self._executor = ThreadPoolExecutor(self.config.job_workers, thread_name_prefix="shoptet-sim-job")
        self.deliverer.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        self.deliverer.stop()
        if self._own_result_dir:
            shutil.rmtree(self.result_dir, ignore_errors=True)

    # --- faults ----------------------------------------------------------------------------------------------

    def injected_error(self) -> tuple[int, str, str] | None:
        """With probability ``error_rate``: a 500 or a 503 to answer instead of the real response."""
        if self.config.error_rate <= 0 or self._fault_rng.random() >= self.config.error_rate:
            return None
        if self._fault_rng.random() < 0.5:
            return 500, "unknown-error", "An unexpected error occurred. Please try again later."
        return 503, "service-unavailable", "The service is temporarily unavailable due to maintenance."

    def render(self, kind: str, index: int, obj: dict[str, Any]) -> dict[str, Any] | None:
        """``obj`` as served: itself, without a required field, or None for "serve it as broken JSON".

        Which records are malformed, and how, is fixed by the seed (``malformed_rate``), so the same records are
        broken in details and snapshots and in every run.
        """
        how = self.data.malformation(kind, index, self.config.malformed_rate)
        if how is None:
            return obj
        self.stats["malformed_served"] += 1
        if how == "invalid-json":
            return None
        fields = _DROPPABLE[kind]
        broken = dict(obj)
        broken.pop(fields[index % len(fields)], None)
        return broken

    # --- events ----------------------------------------------------------------------------------------------

    def emit(self, event: str, instance: str) -> bool:
        """Send ``event`` to its registered webhook, if any; True if one was queued."""
        with self.lock:
            hook = next((h for h in self.webhooks.values() if h.event == event), None)
        if hook is None:
            return False
        body = {
            "eshopId": self.config.eshop_id,
            "event": event,
            "eventCreated": format_time(self.clock()),
            "eventInstance": instance,
        }
        self.deliverer.submit(hook.url, event, _dumps(body))
        self.stats["webhooks_queued"] += 1
        return True

    def has_webhook(self, event: str) -> bool:
        with self.lock:
            return any(h.event == event for h in self.webhooks.values())

    def advance(self, new_orders: int, changed_orders: int) -> dict[str, list[str]]:
        """Create and change orders now, as shop traffic would, and notify the order webhooks."""
        now = self.clock()
        created = self.data.add_orders(new_orders, now)
        changed = self.data.change_orders(changed_orders, now)
        for index in created:
            self.emit("order:create", self.data.order_code(index))
        cancel_hook = self.has_webhook("order:cancel")
        for index in changed:
            code = self.data.order_code(index)
            if cancel_hook and self.data.order_status[index] == -3:
                self.emit("order:cancel", code)
            else:
                self.emit("order:update", code)
        self.stats["orders_created"] += len(created)
        self.stats["orders_changed"] += len(changed)
        return {
            "created": [self.data.order_code(i) for i in created],
            "changed": [self.data.order_code(i) for i in changed],
        }

    # --- jobs ------------------------------------------------------------------------------------------------

    def submit_job(self, kind: str, endpoint: str, params: dict[str, Any], base_url: str) -> Job:
        self._forget_expired_results()
        job_id = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(7))
        job = Job(job_id, endpoint, kind, params, base_url, self.clock())
        job.doomed = self.config.job_error_rate > 0 and self._fault_rng.random() < self.config.job_error_rate
        with self.lock:
            self.jobs[job_id] = job
        if self._executor is None:
            raise RuntimeError("the simulator is not started; use create_app()'s lifespan or Simulator.start()")
        self._executor.submit(self._run_job, job)
        self.stats["jobs_submitted"] += 1
        return job

    def _forget_expired_results(self) -> None:
        """Delete result files past ``validUntil``, so a long-running simulator does not fill the disk."""
        now = self.clock()
        with self.lock:
            expired = [
                j
                for j in self.jobs.values()
                if j.path is not None and (j.valid_until(self.config.result_ttl) or 0) <= now
            ]
        for job in expired:
            path, job.path = job.path, None
            if path is not None:
                path.unlink(missing_ok=True)
            job.status = "expired"

    def _run_job(self, job: Job) -> None:
        """pending → running → completed (or errored: see ``Job.status_at``); the file is streamed while running."""
        begin = time.monotonic()
        delay = self.config.job_delay
        if self._stopping.wait(delay * 0.3):
            return
        job.status = "running"
        suffix = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(7))
        name = f"{job.job_id}-{suffix}.json"
        path = self.result_dir / name
        try:
            if job.doomed:
                raise RuntimeError("the export failed (injected by job_error_rate)")
            job.lines = self._write_snapshot(job, path)
        except Exception as exc:
            # Shoptet marks an errored job failed 3 hours after its creation and sends no job:finished for it.
            if not job.doomed:
                log.exception("snapshot job %s errored", job.job_id)
            job.log = f"{type(exc).__name__}: {exc}"
            job.fails_at = job.created + self.config.job_time_limit
            self.stats["jobs_errored"] += 1
            return
        else:
            if self._stopping.wait(max(0.0, delay - (time.monotonic() - begin))):
                return
            job.path, job.result_name = path, name
            job.status = "completed"
            job.log = None
        job.completed = self.clock()
        job.duration = time.monotonic() - begin
        self.stats[f"jobs_{job.status}"] += 1
        self.emit("job:finished", job.job_id)

    def _write_snapshot(self, job: Job, path: Path) -> int:
        """Write the job's gzipped JSON Lines file one record at a time; memory stays flat for any shop size."""
        lines = 0
        tmp = path.with_suffix(".part")
        with gzip.open(tmp, "wb", compresslevel=5) as out:
            for line in self._snapshot_lines(job):
                if self._stopping.is_set():
                    raise RuntimeError("simulator stopped")
                out.write(line)
                out.write(b"\n")
                lines += 1
        os.replace(tmp, path)
        return lines

    def _snapshot_lines(self, job: Job) -> Iterator[bytes]:
        """One JSON document per record, shaped like the detail endpoint's (``orderSnapshot`` etc. in the spec)."""
        data = self.data
        include: frozenset[str] = job.params.get("include", frozenset())
        build: Callable[[int], dict[str, Any]]
        if job.kind == "orders":
            build = functools.partial(data.order_detail, include=include)
        elif job.kind == "products":
            build = functools.partial(data.product_detail, include=include)
        else:
            build = data.customer_detail
        for index in job.params["indices"]:
            record = build(index)
            rendered = self.render(job.kind, index, record)
            yield _dumps(rendered) if rendered is not None else _truncated(_dumps(record))

    # --- stats -----------------------------------------------------------------------------------------------

    def snapshot_stats(self) -> dict[str, Any]:
        with self.lock:
            now = self.clock()
            jobs = Counter(job.status_at(now) for job in self.jobs.values())
            webhooks = len(self.webhooks)
        return {
            "uptime": round(self.clock() - self.started, 3),
            "requests": self.stats["requests"],
            "responses": {str(k): v for k, v in sorted(self.status_counts.items())},
            "rejected_concurrency": self.stats["rejected_concurrency"],
            "rejected_bucket": self.stats["rejected_bucket"],
            "injected_errors": self.stats["injected_errors"],
            "malformed_served": self.stats["malformed_served"],
            "active_connections": self.connections.active(),
            "buckets": self.buckets.snapshot(),
            "bucket_capacity": self.buckets.capacity,
            "bucket_leak_per_second": self.buckets.leak_per_second,
            "orders": self.data.n_orders,
            "products": self.data.n_products,
            "customers": self.data.n_customers,
            "orders_created": self.stats["orders_created"],
            "orders_changed": self.stats["orders_changed"],
            "jobs": dict(jobs),
            "webhooks_registered": webhooks,
            "webhooks_queued": self.stats["webhooks_queued"],
            "webhooks_delivered": self.stats["webhooks_delivered"],
            "webhooks_failed": self.stats["webhooks_failed"],
        }


# ---------------------------------------------------------------------------------------------------------------
# The app


def create_app(config: SimulatorConfig | None = None, *, clock: Callable[[], float] = time.time) -> FastAPI:
    """A FastAPI app simulating one Shoptet e-shop's API; its state is ``app.state.simulator``.

    Background work (job runner, webhook sender, churn) starts and stops with the app's lifespan, so run it
    under a server (``serve_in_thread``, uvicorn) or ``with TestClient(app)``.
    """
    config = config or SimulatorConfig()
    if config.clock_skew:
        base_clock, skew = clock, config.clock_skew
        clock = lambda: base_clock() + skew  # noqa: E731 - the shop's clock, off by clock_skew seconds
    sim = Simulator(config, clock)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sim.start()
        churn = asyncio.create_task(_churn(sim)) if config.churn_interval else None
        try:
            yield
        finally:
            if churn is not None:
                churn.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await churn
            await asyncio.to_thread(sim.stop)

    app = FastAPI(
        title="Shoptet API simulator", lifespan=lifespan, docs_url="/_sim/docs", openapi_url="/_sim/openapi.json"
    )
    app.state.simulator = sim

    @app.middleware("http")
    async def gate(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        rid = request_id()
        request.state.request_id = rid
        sim.stats["requests"] += 1
        if request.url.path.startswith("/api/"):
            response = await _gated(sim, request, call_next)
        else:
            response = await call_next(request)
        response.headers["X-Request-ID"] = rid
        response.headers["Date"] = http_date(sim.clock())  # the shop's clock (uvicorn's own is turned off)
        sim.status_counts[response.status_code] += 1
        return response

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        response = ShoptetJSON(error_body(exc.code, exc.message, exc.instance, _rid(request)), status_code=exc.status)
        response.headers.update(exc.headers)
        return response

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> Response:
        """A bug in the simulator still answers in Shoptet's envelope (and is logged), like a real 500."""
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        body = error_body("unknown-error", f"Simulator error: {type(exc).__name__}: {exc}", "unknown", _rid(request))
        return ShoptetJSON(body, status_code=500)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        body = error_body(code, str(exc.detail), request.url.path, _rid(request))
        return ShoptetJSON(body, status_code=exc.status_code)

    _orders_routes(app, sim)
    _products_routes(app, sim)
    _customers_routes(app, sim)
    _jobs_routes(app, sim)
    _webhook_routes(app, sim)
    _oauth_routes(app, sim)
    _sim_routes(app, sim)
    return app


async def _gated(sim: Simulator, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Shoptet's gatekeeping, in nginx's order: connections per token, then token, bucket, locks, the handler."""
    rid = request.state.request_id
    headers = request.headers
    private = headers.get("shoptet-private-api-token")
    access = headers.get("shoptet-access-token")
    conn_key = private or access or f"ip:{request.client.host if request.client else '?'}"
    bucket_key = f"conn:{conn_key}"

    def reply(status: int, code: str, message: str, instance: str = "unknown") -> Response:
        return ShoptetJSON(error_body(code, message, instance, rid), status_code=status)

    if not sim.connections.try_acquire(conn_key):
        sim.stats["rejected_concurrency"] += 1
        response = reply(
            429,
            "too-many-connections",
            f"Too many concurrent connections for this token (at most {sim.connections.limit}).",
        )
        response.headers["X-RateLimit-Bucket-Filling"] = sim.buckets.filling(bucket_key)
        return response
    try:
        try:
            bucket_key = sim.tokens.authenticate(private, access)
        except ApiError as exc:
            response = reply(exc.status, exc.code, exc.message, exc.instance)
            response.headers["X-RateLimit-Bucket-Filling"] = sim.buckets.filling(bucket_key)
            return response
        drops = sim.config.drops_per_request
        wait = sim.buckets.seconds_until_room(bucket_key, drops)
        if wait > 0:
            sim.stats["rejected_bucket"] += 1
            response = reply(429, "rate-limit-exceeded", "Rate limit exceeded: the request bucket is full.")
            response.headers["Retry-After"] = http_date(math.ceil(sim.clock() + wait))
            response.headers["X-RateLimit-Bucket-Filling"] = sim.buckets.filling(bucket_key)
            return response
        lock_key = None
        if request.method in ("POST", "PUT", "PATCH", "DELETE"):
            lock_key = f"{bucket_key} {request.method} {request.url}"
            if not sim.write_locks.try_acquire(lock_key):
                response = reply(423, "request-locked", "The same request is already being processed. Retry later.")
                sim.buckets.add(bucket_key, drops)
                response.headers["X-RateLimit-Bucket-Filling"] = sim.buckets.filling(bucket_key)
                return response
        try:
            if sim.config.latency:
                await asyncio.sleep(sim.config.latency)
            fault = sim.injected_error()
            if fault is not None:
                sim.stats["injected_errors"] += 1
                response = reply(*fault)
            else:
                response = await call_next(request)
        finally:
            if lock_key is not None:
                sim.write_locks.release(lock_key)
        # Shoptet weighs a request after running it, by its "complexity": here, the size of what it returned.
        size = int(response.headers.get("content-length") or 0)
        sim.buckets.add(bucket_key, drops + size // sim.config.bytes_per_drop)
        response.headers["X-RateLimit-Bucket-Filling"] = sim.buckets.filling(bucket_key)
        return response
    finally:
        sim.connections.release(conn_key)


async def _churn(sim: Simulator) -> None:
    """Live-shop traffic: new and changed orders every ``churn_interval`` seconds."""
    interval = sim.config.churn_interval
    assert interval is not None
    while True:
        await asyncio.sleep(interval)
        result = sim.advance(sim.config.churn_new_orders, sim.config.churn_changed_orders)
        log.info("churn: %d new, %d changed orders", len(result["created"]), len(result["changed"]))


def _detail_response(
    request: Request, sim: Simulator, kind: str, index: int, data: dict[str, Any], wrap: str | None
) -> Response:
    """A detail envelope, malformed if the seed says this record is."""
    rendered = sim.render(kind, index, data)
    if rendered is None:
        body = {"data": {wrap: data} if wrap else data, "errors": None, "metadata": {"requestId": _rid(request)}}
        return ShoptetJSON(_truncated(_dumps(body)))
    return envelope(request, {wrap: rendered} if wrap else rendered)


# --- orders ----------------------------------------------------------------------------------------------------


def _order_filters(request: Request, sim: Simulator) -> list[int]:
    """Indices of orders matching the list/snapshot filters, oldest first."""
    data = sim.data
    codes = _list_param(request, "orderCodes")
    if codes is not None:  # "No additional filters take effect."
        found = (data.order_index(code) for code in codes)
        return sorted({i for i in found if i is not None})
    customer_index = None
    customer_guid = request.query_params.get("customerGuid")
    if customer_guid:
        customer_index = data.customer_index(customer_guid)
        if customer_index is None:
            return []
    code_from = request.query_params.get("codeFrom")
    code_to = request.query_params.get("codeTo")
    source_id = _int_param(request, "sourceId")
    if source_id is not None and source_id != -1:
        return []
    indices = data.order_indices(
        status_id=_int_param(request, "statusId"),
        creation_from=_time_param(request, "creationTimeFrom"),
        creation_to=_time_param(request, "creationTimeTo"),
        change_from=_time_param(request, "changeTimeFrom"),
        change_to=_time_param(request, "changeTimeTo"),
        customer_index=customer_index,
        code_from=_code_bound(data, code_from, upper=False),
        code_to=_code_bound(data, code_to, upper=True),
    )
    # Filters on fields only the full record has: correct but slow on big shops (one detail build per order).
    email = (request.query_params.get("email") or "").strip().lower()
    phone = (request.query_params.get("phone") or "").strip()
    product_code = request.query_params.get("productCode")
    shipping_guid = request.query_params.get("shippingGuid")
    payment_guid = request.query_params.get("paymentMethodGuid")
    company_code = request.query_params.get("shippingCompanyCode")
    if not (email or phone or product_code or shipping_guid or payment_guid or company_code):
        return indices
    shipping_by_guid = {s.guid: s for s in SHIPPING_METHODS}

    def matches(index: int) -> bool:
        order = data.order_detail(index)
        if email and (order["email"] or "").lower() != email:
            return False
        if phone and order["phone"] != phone:
            return False
        if product_code and not any(item["code"] == product_code for item in order["items"]):
            return False
        if shipping_guid and order["shipping"]["guid"] != shipping_guid:
            return False
        if payment_guid and order["paymentMethod"]["guid"] != payment_guid:
            return False
        shipping = shipping_by_guid.get(order["shipping"]["guid"])
        return not (company_code and (shipping is None or shipping.company_code != company_code))

    return [i for i in indices if matches(i)]


def _code_bound(data: ShopData, code: str | None, *, upper: bool) -> int | None:
    if not code:
        return None
    if not code.isdigit():
        raise ApiError(400, "invalid-parameter", f'Invalid "{"codeTo" if upper else "codeFrom"}" parameter.', code)
    return int(code) - data.order_code_base - 1


def _orders_routes(app: FastAPI, sim: Simulator) -> None:
    """Orders. List-like handlers are plain ``def``: FastAPI runs them in its thread pool, so filtering 100,000
    orders does not stall the event loop (and with it every other connection)."""
    data = sim.data

    @app.get("/api/orders")
    def list_orders(request: Request) -> Response:
        page, per_page = _paging(request, 50, 50)
        indices = _order_filters(request, sim)
        indices.reverse()  # newest first
        window, paginator = _paginate(len(indices), page, per_page)
        orders = [data.order_list_item(i) for i in indices[window]]
        return envelope(request, {"orders": orders, "paginator": paginator})

    @app.get("/api/orders/changes")
    def order_changes(request: Request) -> Response:
        return _changes(request, sim, "orders", "code", 20, 1000)

    @app.get("/api/orders/statuses")
    async def order_statuses(request: Request) -> Response:
        statuses = [
            {
                "id": status_id,
                "name": name,
                "system": True,
                "order": position,
                "markAsPaid": status_id == -2,
                "color": None,
                "backgroundColor": None,
                "changeOrderItems": status_id != -3,
                "stockClaimResolved": status_id in (-2, -3),
                "documents": {
                    "generateProformaInvoice": False,
                    "generateInvoice": status_id == -2,
                    "generateDeliveryNote": False,
                    "generateProofPayment": False,
                },
            }
            for position, (status_id, name) in enumerate(ORDER_STATUSES.items(), start=1)
        ]
        return envelope(request, {"defaultStatus": -1, "statuses": statuses})

    @app.get("/api/orders/snapshot")
    def orders_snapshot(request: Request) -> Response:
        _require_job_webhook(sim)
        include = _include(request, _ORDER_INCLUDES)
        indices = _order_filters(request, sim)
        job = sim.submit_job(
            "orders", "/api/orders/snapshot", {"indices": indices, "include": include}, str(request.base_url)
        )
        return envelope(request, {"jobId": job.job_id}, status=202)

    @app.get("/api/orders/{code}")
    async def order_detail(code: str, request: Request) -> Response:
        index = data.order_index(code)
        if index is None:
            raise ApiError(404, "order-not-found", f'Order "{code}" not found.', code)
        order = data.order_detail(index, _include(request, _ORDER_INCLUDES))
        return _detail_response(request, sim, "orders", index, order, "order")


def _changes(request: Request, sim: Simulator, kind: str, key: str, default: int, maximum: int) -> Response:
    raw_from = request.query_params.get("from")
    if not raw_from:
        raise ApiError(400, "missing-parameter", 'Missing value for parameter "from".', "from")
    since = _time_param(request, "from")
    assert since is not None
    change_type = request.query_params.get("changeType")
    if change_type not in (None, "", "edit", "delete"):
        raise ApiError(
            400, "invalid-parameter", 'Invalid "changeType" parameter. Use "edit" or "delete".', "changeType"
        )
    page, per_page = _paging(request, default, maximum)
    changes = [] if change_type == "delete" else sim.data.changes(kind, since, sim.clock())
    window, paginator = _paginate(len(changes), page, per_page)
    items = [
        {key: c.key, "changeTime": format_time(c.change_time), "changeType": c.change_type} for c in changes[window]
    ]
    return envelope(request, {"changes": items, "paginator": paginator})


def _require_job_webhook(sim: Simulator) -> None:
    if not sim.has_webhook("job:finished"):
        raise ApiError(
            403,
            "job-finished-webhook-missing",
            "Asynchronous requests require a registered job:finished webhook. Register it with POST /api/webhooks.",
            "job:finished",
        )


# --- products --------------------------------------------------------------------------------------------------


def _product_filters(request: Request, sim: Simulator) -> list[int]:
    data = sim.data
    codes = _list_param(request, "productCodes")
    guids = _list_param(request, "productGuids")
    if codes is not None and guids is not None:
        raise ApiError(
            400,
            "invalid-parameter",
            'Invalid "productCodes" parameter. You can use "productCodes" or "productGuids", but not both.',
            "productCodes",
        )
    if guids is not None:
        return sorted({i for i in (data.product_index(g) for g in guids) if i is not None})
    if codes is not None:
        wanted = set(codes)
        return [i for i in range(data.n_products) if any(v.code in wanted for v in data.product(i).variants)]
    q = request.query_params
    creation_from, creation_to = _time_param(request, "creationTimeFrom"), _time_param(request, "creationTimeTo")
    change_from, change_to = _time_param(request, "changeTimeFrom"), _time_param(request, "changeTimeTo")
    availability = _int_param(request, "availabilityId")
    sold_out = _int_param(request, "availabilityWhenSoldOutId")
    result = []
    for i in range(data.n_products):
        created, changed = data.product_created[i], data.product_changed[i]
        if not (_within(created, creation_from, creation_to) and _within(changed, change_from, change_to)):
            continue
        product = data.product(i)
        if q.get("visibility") and product.visibility != q["visibility"]:
            continue
        if q.get("type") and q["type"] != "product":
            continue
        if q.get("flag"):
            continue  # the simulated products carry no flags
        if q.get("brandCode") and (product.brand is None or product.brand[0] != q["brandCode"]):
            continue
        if q.get("brandName") and (product.brand is None or product.brand[1] != q["brandName"]):
            continue
        if q.get("supplierGuid") and (product.supplier is None or product.supplier[0] != q["supplierGuid"]):
            continue
        category_guid = q.get("defaultCategoryGuid") or q.get("categoryGuid")
        if category_guid and data.product_list_item(i)["defaultCategory"]["guid"] != category_guid:
            continue
        if availability is not None and not any((1 if v.stock > 0 else None) == availability for v in product.variants):
            continue
        if sold_out is not None and sold_out != 3:
            continue
        result.append(i)
    return result


def _products_routes(app: FastAPI, sim: Simulator) -> None:
    data = sim.data

    @app.get("/api/products")
    def list_products(request: Request) -> Response:
        page, per_page = _paging(request, 20, 1000)
        include = _include(request, frozenset({"images"}))
        indices = _product_filters(request, sim)
        indices.reverse()  # newest first
        window, paginator = _paginate(len(indices), page, per_page)
        products = [data.product_list_item(i, include) for i in indices[window]]
        return envelope(request, {"products": products, "paginator": paginator})

    @app.get("/api/products/changes")
    def product_changes(request: Request) -> Response:
        return _changes(request, sim, "products", "guid", 1000, 1000)

    @app.get("/api/products/snapshot")
    def products_snapshot(request: Request) -> Response:
        _require_job_webhook(sim)
        include = _include(request, _PRODUCT_INCLUDES)
        indices = _product_filters(request, sim)
        job = sim.submit_job(
            "products", "/api/products/snapshot", {"indices": indices, "include": include}, str(request.base_url)
        )
        return envelope(request, {"jobId": job.job_id}, status=202)

    @app.get("/api/products/code/{code:path}")
    async def product_by_code(code: str, request: Request) -> Response:
        prefix = code.split("/", 1)[0]
        index = int(prefix) - 1 if prefix.isdigit() else -1
        if not 0 <= index < data.n_products or all(v.code != code for v in data.product(index).variants):
            raise ApiError(404, "product-not-found", f'Product with identificator "{code}" not found.', code)
        product = data.product_detail(index, _include(request, _PRODUCT_INCLUDES))
        return _detail_response(request, sim, "products", index, product, None)

    @app.get("/api/products/{guid}")
    async def product_detail(guid: str, request: Request) -> Response:
        index = data.product_index(guid)
        if index is None:
            raise ApiError(404, "product-not-found", f'Product with identificator "{guid}" not found.', guid)
        product = data.product_detail(index, _include(request, _PRODUCT_INCLUDES))
        return _detail_response(request, sim, "products", index, product, None)


# --- customers -------------------------------------------------------------------------------------------------


def _customer_filters(request: Request, sim: Simulator, *, times: bool) -> list[int]:
    data = sim.data
    email = (request.query_params.get("email") or "").strip().lower()
    phone = (request.query_params.get("phone") or "").strip()
    bounds = [_time_param(request, n) for n in ("creationTimeFrom", "creationTimeTo", "changeTimeFrom", "changeTimeTo")]
    result = []
    for i in range(data.n_customers):
        if times:
            created, changed = data.customer_created[i], data.customer_changed[i]
            if not (_within(created, bounds[0], bounds[1]) and _within(changed, bounds[2], bounds[3])):
                continue
        if email or phone:
            person = data.customer(i).person
            if (email and person.email.lower() != email) or (phone and person.phone != phone):
                continue
        result.append(i)
    return result


def _customers_routes(app: FastAPI, sim: Simulator) -> None:
    data = sim.data

    @app.get("/api/customers")
    def list_customers(request: Request) -> Response:
        page, per_page = _paging(request, 20, 1000)
        indices = _customer_filters(request, sim, times=False)
        indices.reverse()
        window, paginator = _paginate(len(indices), page, per_page)
        customers = [data.customer_list_item(i) for i in indices[window]]
        return envelope(request, {"customers": customers, "paginator": paginator})

    @app.get("/api/customers/changes")
    def customer_changes(request: Request) -> Response:
        return _changes(request, sim, "customers", "guid", 20, 20)

    @app.get("/api/customers/snapshot")
    def customers_snapshot(request: Request) -> Response:
        _require_job_webhook(sim)
        indices = _customer_filters(request, sim, times=True)
        job = sim.submit_job("customers", "/api/customers/snapshot", {"indices": indices}, str(request.base_url))
        return envelope(request, {"jobId": job.job_id}, status=202)

    @app.get("/api/customers/{guid}")
    async def customer_detail(guid: str, request: Request) -> Response:
        index = data.customer_index(guid)
        if index is None:
            raise ApiError(404, "customer-not-found", f'Customer with guid "{guid}" not found.', guid)
        return _detail_response(request, sim, "customers", index, data.customer_detail(index), "customer")


# --- jobs ------------------------------------------------------------------------------------------------------


def _jobs_routes(app: FastAPI, sim: Simulator) -> None:
    ttl = sim.config.result_ttl

    @app.get("/api/system/jobs")
    async def list_jobs(request: Request) -> Response:
        page, per_page = _paging(request, 100, 500)
        status = request.query_params.get("status")
        bounds = [
            _time_param(request, n)
            for n in ("creationTimeFrom", "creationTimeTo", "completionTimeFrom", "completionTimeTo")
        ]
        now = sim.clock()
        jobs = []
        for job in sorted(sim.jobs.values(), key=lambda j: j.created, reverse=True):
            summary = job.summary(ttl, now)
            if status and summary["status"] != status:
                continue
            if not _within(job.created, bounds[0], bounds[1]):
                continue
            if (bounds[2] is not None or bounds[3] is not None) and not (
                job.completed is not None and _within(job.completed, bounds[2], bounds[3])
            ):
                continue
            jobs.append(summary)
        window, paginator = _paginate(len(jobs), page, per_page)
        return envelope(request, {"jobs": jobs[window], "paginator": paginator})

    @app.get("/api/system/jobs/{job_id}")
    async def job_detail(job_id: str, request: Request) -> Response:
        job = sim.jobs.get(job_id)
        if job is None:
            raise ApiError(404, "job-not-found", f'Job with ID "{job_id}" not found.', job_id)
        if job.status_at(sim.clock()) in ("pending", "running"):
            job.polls += 1
            if job.polls > sim.config.job_max_polls:
                raise ApiError(
                    403,
                    "job-detail-try-counter-exceeded-limit",
                    f'You have exceeded the limit of job detail request for unprocessed job "{job_id}". '
                    "Please wait for job:finished event after job is completed!",
                    job_id,
                )
        return envelope(request, {"job": job.as_json(ttl, sim.clock())})

    @app.get("/api-results/{name}")
    async def job_result(name: str) -> Response:
        """The result file: no token needed, like Shoptet's (the official SDK downloads it without auth)."""
        job = next((j for j in sim.jobs.values() if j.result_name == name), None)
        until = job.valid_until(ttl) if job else None
        if job is None or job.path is None or until is None or until <= sim.clock():
            return Response("Not Found", status_code=404, media_type="text/plain")
        return FileResponse(job.path, media_type="application/gzip", filename=name)


# --- webhooks --------------------------------------------------------------------------------------------------


def _webhook_routes(app: FastAPI, sim: Simulator) -> None:
    @app.get("/api/webhooks")
    async def list_webhooks(request: Request) -> Response:
        page, per_page = _paging(request, 20, 500)
        hooks = [h.as_json() for h in sorted(sim.webhooks.values(), key=lambda h: h.id)]
        window, paginator = _paginate(len(hooks), page, per_page)
        return envelope(request, {"webhooks": hooks[window], "paginator": paginator})

    @app.post("/api/webhooks")
    async def register_webhooks(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise ApiError(422, "invalid-request-data", "Request body is not valid JSON.", "body") from None
        items = body.get("data") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            raise ApiError(400, "invalid-request-data", 'Expected {"data": [{"event": …, "url": …}, …]}.', "data")
        if len(items) > 50:
            raise ApiError(400, "invalid-request-data", f"At most 50 webhooks per call, {len(items)} given.", "data")
        wanted: list[tuple[str, str, str | None]] = []
        for n, item in enumerate(items):
            where = f"data[{n}]"
            if not isinstance(item, dict) or set(item) - {"event", "url", "sendPayload"}:
                raise ApiError(400, "invalid-request-data", "Each webhook has only event, url and sendPayload.", where)
            event, url, payload = item.get("event"), item.get("url"), item.get("sendPayload")
            if event not in WEBHOOK_EVENTS:
                raise ApiError(400, "invalid-request-data", f'Unknown webhook event "{event}".', f"{where}.event")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")) or len(url) > 2000:
                raise ApiError(
                    400,
                    "invalid-request-data",
                    "url must be an http(s) URL of at most 2000 characters.",
                    f"{where}.url",
                )
            if payload not in (None, "full"):
                raise ApiError(
                    400, "invalid-request-data", 'sendPayload must be "full" or null.', f"{where}.sendPayload"
                )
            wanted.append((event, url, payload))
        now = sim.clock()
        with sim.lock:
            taken = {h.event for h in sim.webhooks.values()}
            new_events = [w[0] for w in wanted]
            for event in new_events:
                if event in taken or new_events.count(event) > 1:
                    raise ApiError(422, "webhook-already-exists", "Webhook already exists for this event", event)
            events = taken | set(new_events)
            if {"order:cancel", "order:update"} <= events:
                raise ApiError(
                    409,
                    "webhook-conflict",
                    "order:cancel cannot be registered together with order:update.",
                    "order:cancel",
                )
            created = []
            for event, url, payload in wanted:
                hook = Webhook(next(sim.webhook_ids), event, url, now, now, payload)
                sim.webhooks[hook.id] = hook
                created.append(hook.as_json())
        return envelope(request, {"webhooks": created}, status=201)

    @app.get("/api/webhooks/{webhook_id}")
    async def get_webhook(webhook_id: str, request: Request) -> Response:
        return envelope(request, {"webhook": _find_webhook(sim, webhook_id).as_json()})

    @app.delete("/api/webhooks/{webhook_id}")
    async def delete_webhook(webhook_id: str, request: Request) -> Response:
        hook = _find_webhook(sim, webhook_id)
        with sim.lock:
            sim.webhooks.pop(hook.id, None)
        return envelope(request, None)

    @app.post("/api/webhooks/renew-signature-key")
    async def renew_signature_key(request: Request) -> Response:
        sim.signature_key = secrets.token_hex(16)  # each call makes a new key, as Shoptet's does
        return envelope(request, {"signatureKey": sim.signature_key})


def _find_webhook(sim: Simulator, raw_id: str) -> Webhook:
    hook = sim.webhooks.get(int(raw_id)) if raw_id.isdigit() else None
    if hook is None:
        raise ApiError(404, "webhook-not-found", f'Webhook with id "{raw_id}" not found.', raw_id)
    return hook


# --- OAuth server ----------------------------------------------------------------------------------------------


def _oauth_routes(app: FastAPI, sim: Simulator) -> None:
    @app.get("/action/ApiOAuthServer/getAccessToken")
    async def get_access_token(request: Request) -> Response:
        """Trade an add-on's OAuth token (``Authorization: Bearer …``) for a short-lived API access token."""
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or token.strip() not in sim.tokens.oauth:
            return JSONResponse({"error": "Unauthorized"}, status_code=401)
        issued = sim.tokens.issue(token.strip())
        if issued is None:
            return JSONResponse({"error": "maximum_tokens_reached"}, status_code=429)
        return JSONResponse({"access_token": issued.token, "expires_in": int(sim.config.access_token_ttl)})


# --- simulator controls ----------------------------------------------------------------------------------------


def _sim_routes(app: FastAPI, sim: Simulator) -> None:
    @app.post("/_sim/advance")
    async def advance(new_orders: int = 0, changed_orders: int = 0) -> Response:
        """Make shop traffic now: ``new_orders`` created and ``changed_orders`` moved one status forward."""
        if new_orders < 0 or changed_orders < 0 or new_orders + changed_orders > 100_000:
            raise ApiError(400, "invalid-parameter", "new_orders and changed_orders must be 0–100000.", "advance")
        result = sim.advance(new_orders, changed_orders)
        return JSONResponse({**result, "time": format_time(sim.clock())})

    @app.get("/_sim/stats")
    async def stats() -> Response:
        return JSONResponse(sim.snapshot_stats())

    @app.get("/_sim/health")
    async def health() -> Response:
        return JSONResponse({"ok": True})
