"""A synchronous client of the Shoptet REST API, for sync jobs running in Conveyor worker threads.

```python
from conveyor.commerce.shoptet.auth import PrivateApiToken
from conveyor.commerce.shoptet.client import ShoptetClient

with ShoptetClient(PrivateApiToken(token), shop="acme") as shoptet:
    for order in shoptet.iter_orders(change_time_from=since):      # page after page, lazily
        detail = shoptet.get_order(order.code)
    job_id = shoptet.request_snapshot("products")                   # the asynchronous full export
    job = shoptet.wait_for_job(job_id, finished=job_finished_event.wait)
    path, sha256, size = shoptet.download_result(job.result_url, "/var/sync/products.jsonl.gz")
    for line in iter_snapshot_lines(path):                          # one record at a time
        ...
```

What it does for the caller, and why:

* **Pacing.** Shoptet meters each add-on × shop with a leaky bucket (200 drops, leaking 10/s) and
  reports its filling in ``X-RateLimit-Bucket-Filling: n/cap`` on every answer; a full bucket is a 429.
  The client remembers the last filling, lets it leak at ``leak_rate`` and, before each request,
  sleeps until the estimate is under ``pace_above`` of the capacity. The header reflects every
  client of the shop (the bucket is Shoptet's), so workers in several processes slow down together.
  With a Conveyor ``app`` and ``shared_rate``, a database token bucket (``app.rate_limit``) caps the
  request rate of all workers of the shop as well.
* **At most 3 connections** per token (Shoptet answers 429 above that): ``httpx.Limits`` on the pool
  and a semaphore around each request, shared by every thread using this client.
* **429** → the ``Retry-After`` HTTP date is honoured: waits up to ``max_rate_limit_wait`` seconds
  are slept here; a longer wait raises :class:`RateLimited` so a task can ``raise Snooze(...)``
  instead of holding a worker thread.
* **5xx, 423 and network errors** → bounded retries (``max_retries``) with exponential backoff and
  jitter, then :class:`ServerError` / :class:`Locked`. **401** → the credentials are renewed once (an
  add-on token that expired) and the request repeated; a second 401, or any 401 with a private token,
  is an :class:`AuthenticationError` at once: no retry storm. **400/409/413/422** are never retried.
* **Logging.** One line per request on ``conveyor.commerce.shoptet`` (DEBUG when it succeeded, INFO
  otherwise): method, path, status, duration, bucket filling and Shoptet's request id. Headers are
  never logged, so neither is a token.

Sleep, randomness and the clock are injectable so tests run in milliseconds. The pieces it is built from
have their own modules: :mod:`.pacing` (bucket, back-off, ``Retry-After``), :mod:`.paging` (list endpoints
as one stream), :mod:`.snapshot_files` (verifying and reading a downloaded export).
"""

from __future__ import annotations

import hashlib
import logging
import os
import random as _random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import date, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import ValidationError
from pydantic.alias_generators import to_camel

from conveyor.commerce.shoptet.auth import Credentials
from conveyor.commerce.shoptet.errors import (
    AuthenticationError,
    Forbidden,
    InvalidRequest,
    JobFailed,
    JobFinishedWebhookMissing,
    JobNotFinished,
    JobPollLimitExceeded,
    Locked,
    MalformedResponse,
    NotFound,
    RateLimited,
    ServerError,
    ShoptetError,
)
from conveyor.commerce.shoptet.models import (
    ApiError,
    CustomerChange,
    CustomerDetail,
    CustomerListItem,
    Envelope,
    OrderChange,
    OrderDetail,
    OrderListItem,
    Paginator,
    ProductChange,
    ProductDetail,
    ProductListItem,
    SnapshotAccepted,
    SystemJob,
    format_shoptet_datetime,
)
from conveyor.commerce.shoptet.pacing import LeakyBucket, Permits, backoff, http_date, retry_after_seconds
from conveyor.commerce.shoptet.paging import M, PageStream, validate
from conveyor.commerce.shoptet.snapshot_files import SnapshotLineError, iter_snapshot_lines, verify_snapshot

if TYPE_CHECKING:
    from conveyor import Conveyor

log = logging.getLogger("conveyor.commerce.shoptet")

DEFAULT_BASE_URL = "https://api.myshoptet.com"

#: Page sizes: the spec's maxima (a bigger value is silently clamped by Shoptet).
MAX_ORDERS_PER_PAGE = 50
MAX_PER_PAGE = 1000
MAX_CUSTOMER_CHANGES_PER_PAGE = 20

#: The snapshot endpoints the pipelines use, by the ``kind`` passed to :meth:`ShoptetClient.request_snapshot`.
SNAPSHOT_PATHS: Mapping[str, str] = {
    "orders": "/api/orders/snapshot",
    "products": "/api/products/snapshot",
    "customers": "/api/customers/snapshot",
}

#: Shoptet answers 403 to the 11th detail request of an unfinished job.
JOB_POLL_LIMIT = 10

_TOKEN_ERROR_CODES = frozenset({"invalid-token", "expired-token", "missing-access-token", "invalid-token-no-rights"})
_JOB_POLL_LIMIT_CODE = "job-detail-try-counter-exceeded-limit"
_RETRYABLE_STATUSES = frozenset({423, 500, 502, 503, 504})
_INVALID_REQUEST_STATUSES = frozenset({400, 409, 413, 422})


# ---------------------------------------------------------------------------------------------- the client
class ShoptetClient:
    """The Shoptet REST API for one shop (see the module docstring for pacing, retries and errors).

    ``credentials``: a :class:`~conveyor.commerce.shoptet.auth.PrivateApiToken` or an
    :class:`~conveyor.commerce.shoptet.auth.AccessTokenManager`. ``shop`` names the shop in messages,
    logs and the shared rate-limit key. ``app`` and ``shared_rate`` (requests per second, bursts of one
    second's worth) add a token bucket in the Conveyor database that every worker of the shop draws
    from. One client may be shared by the threads of a process: they share its connections, its pacing
    and its semaphore.

    Options: ``max_retries`` for 5xx/423/network errors, backing off from ``backoff_base`` doubling up
    to ``backoff_max``; ``max_rate_limit_wait`` (longest ``Retry-After`` slept here) and
    ``max_rate_limit_retries``; ``pace_above`` (fraction of the bucket to stay under) and ``leak_rate``
    (Shoptet's 10 drops/s); ``sleep``, ``random`` and ``clock`` (wall time) for tests.
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        base_url: str = DEFAULT_BASE_URL,
        shop: str | None = None,
        app: Conveyor | None = None,
        shared_rate: float | None = None,
        max_connections: int = 3,
        timeout: float = 30.0,
        max_retries: int = 4,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        max_rate_limit_wait: float = 30.0,
        max_rate_limit_retries: int = 5,
        pace_above: float = 0.75,
        leak_rate: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = _random.random,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {max_connections}")
        if not 0 < pace_above <= 1:
            raise ValueError(f"pace_above must be a fraction of the bucket in (0, 1], got {pace_above}")
        self.credentials = credentials
        self.base_url = base_url.rstrip("/")
        self.shop = shop or getattr(credentials, "shop_key", None) or httpx.URL(self.base_url).host
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_rate_limit_wait = max_rate_limit_wait
        self.max_rate_limit_retries = max_rate_limit_retries
        self._sleep = sleep
        self._random = random
        self._clock = clock
        self._bucket = LeakyBucket(leak_rate=leak_rate, pace_above=pace_above, clock=clock)
        self._slots = threading.BoundedSemaphore(max_connections)
        self._limiter: Permits | None = None
        if shared_rate is not None:
            if app is None:
                raise ValueError("shared_rate needs a Conveyor app: the budget is shared through its database")
            self._limiter = app.rate_limit(f"shoptet:{self.shop}", rate=shared_rate, burst=max(1, int(shared_rate)))
        self._deprecations_seen: set[str] = set()
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )

    def __repr__(self) -> str:
        return f"ShoptetClient(shop={self.shop!r}, base_url={self.base_url!r}, credentials={self.credentials!r})"

    def __enter__(self) -> ShoptetClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    # ------------------------------------------------------------------ orders
    def iter_orders(
        self,
        *,
        change_time_from: datetime | None = None,
        change_time_to: datetime | None = None,
        creation_time_from: datetime | None = None,
        creation_time_to: datetime | None = None,
        status_id: int | None = None,
        items_per_page: int = MAX_ORDERS_PER_PAGE,
        **filters: Any,
    ) -> PageStream[OrderListItem]:
        """Orders matching the filters (``GET /api/orders``), streamed page by page (at most 50 a page).

        Other filters of the spec may be passed by their Shoptet or snake_case name
        (``email=``, ``customer_guid=``, ``source_id=``…). List items carry no lines or addresses:
        use :meth:`get_order` / :meth:`fetch_order_details` for those."""
        params = {
            "changeTimeFrom": change_time_from,
            "changeTimeTo": change_time_to,
            "creationTimeFrom": creation_time_from,
            "creationTimeTo": creation_time_to,
            "statusId": status_id,
            **filters,
        }
        return self._stream("/api/orders", "orders", OrderListItem, "code", params, items_per_page, MAX_ORDERS_PER_PAGE)

    def iter_order_changes(
        self, since: datetime, *, change_type: str | None = None, items_per_page: int = MAX_PER_PAGE
    ) -> PageStream[OrderChange]:
        """Orders changed since ``since`` (``GET /api/orders/changes``): the last change of each order,
        30 days back at most. ``change_type`` "edit" (which includes creation) or "delete"."""
        params = {"from": since, "changeType": change_type}
        return self._stream("/api/orders/changes", "changes", OrderChange, "code", params, items_per_page, MAX_PER_PAGE)

    def get_order(self, code: str, *, include: Iterable[str] | None = None) -> OrderDetail:
        """One order with its lines and addresses (``GET /api/orders/{code}``); ``include`` adds optional
        sections (notes, images, shippingDetails, stockLocation, surchargeParameters…)."""
        order = self.get_order_data(code, include=include)
        return validate(OrderDetail, order, "code", f"shop {self.shop} order", code=code)

    def get_order_data(self, code: str, *, include: Iterable[str] | None = None) -> dict[str, Any]:
        """:meth:`get_order` as Shoptet sent it (``data.order``, a dict), not validated against the model:
        for a caller that validates the record itself, once (the sync pipelines do, as they make rows)."""
        params = {"include": _csv(include)} if include else None
        data = self._data(self._get(f"/api/orders/{_segment(code)}", params), f"order {code}", code=code)
        return _object(_field(data, "order", f"order {code}", code=code), f"shop {self.shop} order {code}", code)

    def fetch_order_details(
        self, codes: Iterable[str], *, concurrency: int = 3, include: Iterable[str] | None = None
    ) -> Iterator[tuple[str, OrderDetail | None]]:
        """``(code, detail)`` for each code, fetched ``concurrency`` at a time, in completion order.

        ``None`` means the order no longer exists (deleted since it was listed); any other error stops
        the iteration and is raised. Threads, not asyncio, because sync jobs already run in worker
        threads and this shares the client's pool, pacing and 3-connection semaphore with them; codes
        are read lazily and at most ``concurrency`` requests are in flight, so memory stays flat."""
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        include_list = list(include) if include else None

        def fetch(code: str) -> OrderDetail | None:
            try:
                return self.get_order(code, include=include_list)
            except NotFound:
                return None

        pending: dict[Future[OrderDetail | None], str] = {}
        codes_left = iter(codes)
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="shoptet-detail") as pool:
            try:
                while True:
                    for code in codes_left:
                        pending[pool.submit(fetch, code)] = code
                        if len(pending) >= concurrency:
                            break
                    if not pending:
                        return
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        yield pending.pop(future), future.result()
            finally:
                for future in pending:
                    future.cancel()

    # ------------------------------------------------------------------ products
    def iter_products(
        self,
        *,
        change_time_from: datetime | None = None,
        change_time_to: datetime | None = None,
        items_per_page: int = 200,
        **filters: Any,
    ) -> PageStream[ProductListItem]:
        """Products (``GET /api/products``), without stock or prices: use :meth:`get_product` or a
        snapshot for those. Other filters by Shoptet or snake_case name (``visibility=``, ``brand_code=``…)."""
        params = {"changeTimeFrom": change_time_from, "changeTimeTo": change_time_to, **filters}
        return self._stream("/api/products", "products", ProductListItem, "guid", params, items_per_page, MAX_PER_PAGE)

    def iter_product_changes(
        self, since: datetime, *, change_type: str | None = None, items_per_page: int = MAX_PER_PAGE
    ) -> PageStream[ProductChange]:
        """Products changed since ``since`` (``GET /api/products/changes``, 30 days back at most).

        Stock movements do not count as product changes in Shoptet; follow them through stock
        movements or the ``stock:movement`` webhook."""
        params = {"from": since, "changeType": change_type}
        return self._stream(
            "/api/products/changes", "changes", ProductChange, "guid", params, items_per_page, MAX_PER_PAGE
        )

    def get_product(self, guid: str, *, include: Iterable[str] | None = None) -> ProductDetail:
        """One product with its variants (``GET /api/products/{guid}``); ``include`` adds sections such
        as perStockAmounts or perPricelistPrices. Its ``data`` is the product itself, not wrapped."""
        product = self.get_product_data(guid, include=include)
        return validate(ProductDetail, product, "guid", f"shop {self.shop} product", code=guid)

    def get_product_data(self, guid: str, *, include: Iterable[str] | None = None) -> dict[str, Any]:
        """:meth:`get_product` as Shoptet sent it (a dict), not validated against the model."""
        params = {"include": _csv(include)} if include else None
        data = self._data(self._get(f"/api/products/{_segment(guid)}", params), f"product {guid}", code=guid)
        return _object(data, f"shop {self.shop} product {guid}", guid)

    # ------------------------------------------------------------------ customers
    def iter_customers(
        self, *, email: str | None = None, phone: str | None = None, items_per_page: int = 200
    ) -> PageStream[CustomerListItem]:
        """Customers (``GET /api/customers``); Shoptet filters only by exact e-mail or phone."""
        params = {"email": email, "phone": phone}
        return self._stream(
            "/api/customers", "customers", CustomerListItem, "guid", params, items_per_page, MAX_PER_PAGE
        )

    def iter_customer_changes(self, since: datetime, *, change_type: str | None = None) -> PageStream[CustomerChange]:
        """Customers changed since ``since`` (``GET /api/customers/changes``, 20 a page at most)."""
        params = {"from": since, "changeType": change_type}
        return self._stream(
            "/api/customers/changes",
            "changes",
            CustomerChange,
            "guid",
            params,
            MAX_CUSTOMER_CHANGES_PER_PAGE,
            MAX_CUSTOMER_CHANGES_PER_PAGE,
        )

    def get_customer(self, guid: str) -> CustomerDetail:
        """One customer with addresses and accounts (``GET /api/customers/{guid}``)."""
        data = self._data(self._get(f"/api/customers/{_segment(guid)}"), f"customer {guid}", code=guid)
        customer = _field(data, "customer", f"customer {guid}", code=guid)
        return validate(CustomerDetail, customer, "guid", f"shop {self.shop} customer", code=guid)

    # ------------------------------------------------------------------ snapshots and jobs
    def request_snapshot(self, kind: str, **filters: Any) -> str:
        """Ask for an export of every ``kind`` record ("orders", "products", "customers") matching the
        filters; returns the job id. Shoptet then builds a gzipped JSON Lines file in the background.

        Raises :class:`JobFinishedWebhookMissing` when Shoptet refuses because the shop has no
        ``job:finished`` webhook registered (it runs asynchronous requests only with one)."""
        path = SNAPSHOT_PATHS.get(kind)
        if path is None:
            raise ValueError(f"unknown snapshot kind {kind!r} (known: {', '.join(SNAPSHOT_PATHS)})")
        try:
            response = self._request("GET", path, params=_query(filters), ok=(200, 202))
        except Forbidden as exc:
            raise JobFinishedWebhookMissing(
                f"shop {self.shop} refused the {kind} snapshot: it has no job:finished webhook, and Shoptet "
                f"runs asynchronous requests only when one exists. Register the webhooks with `conveyor shoptet "
                f"shops update {self.shop} --webhook-url https://<this server>/webhooks/shoptet` (or the "
                f"Shops page: Register webhooks) and request the snapshot again "
                f"(403 {exc.error_code}: {exc.message})",
                status_code=exc.status_code,
                error_code=exc.error_code,
                request_id=exc.request_id,
            ) from exc
        accepted = validate(SnapshotAccepted, self._data(response, f"{kind} snapshot"), "jobId", "snapshot")
        log.info("shoptet %s: %s snapshot requested, job %s", self.shop, kind, accepted.job_id)
        return accepted.job_id

    def get_job(self, job_id: str) -> SystemJob:
        """The state of an asynchronous job (``GET /api/system/jobs/{jobId}``): one poll.

        Shoptet answers 403 (:class:`JobPollLimitExceeded`) once an unfinished job was asked for more
        than 10 times, and 404 (:class:`NotFound`) for an unknown job."""
        data = self._data(self._get(f"/api/system/jobs/{_segment(job_id)}"), f"job {job_id}")
        return validate(SystemJob, _field(data, "job", f"job {job_id}"), "jobId", "job")

    def wait_for_job(
        self,
        job_id: str,
        *,
        max_polls: int = 8,
        first_delay: float = 5.0,
        max_delay: float = 120.0,
        finished: Callable[[float], bool] | None = None,
    ) -> SystemJob:
        """Wait for a job to finish and return it (completed); raise :class:`JobFailed` if it failed.

        Polls at most ``max_polls`` times (Shoptet allows 10 detail requests of an unfinished job, and
        counts those made by earlier attempts too), waiting ``first_delay`` seconds before the first and
        doubling up to ``max_delay``. ``finished`` is how to hear of the ``job:finished`` webhook
        instead: a function that waits up to N seconds and returns True when the job is known to have
        finished (``threading.Event().wait`` fits); the next poll then comes at once. When the polls
        are used up, :class:`JobNotFinished` says so: reschedule and ask again after the webhook."""
        if not 1 <= max_polls <= JOB_POLL_LIMIT:
            raise ValueError(f"max_polls must be between 1 and {JOB_POLL_LIMIT} (Shoptet's limit), got {max_polls}")
        delay = first_delay
        for poll in range(1, max_polls + 1):
            if finished is not None:
                finished(delay)
            else:
                self._sleep(delay)
            job = self.get_job(job_id)
            if job.finished:
                if not job.succeeded:
                    raise JobFailed(
                        f"shop {self.shop}: job {job_id} ({job.endpoint}) ended {job.status}"
                        + (f": {job.log.strip()[:500]}" if job.log else ""),
                        job=job,
                    )
                return job
            log.debug("shoptet %s: job %s is %s after poll %d/%d", self.shop, job_id, job.status, poll, max_polls)
            delay = min(max_delay, delay * 2)
        raise JobNotFinished(
            f"shop {self.shop}: job {job_id} is still {job.status} after {max_polls} polls; wait for the "
            "job:finished webhook before asking again (Shoptet refuses more than 10 polls of an unfinished job)",
            job=job,
            polls=max_polls,
        )

    def download_result(self, url: str, dest_path: str | os.PathLike[str]) -> tuple[Path, str, int]:
        """Stream a job's result file to ``dest_path``; returns (path, sha256 hex, size in bytes).

        The bytes are stored as sent (still gzipped) and hashed on the way, in constant memory. The
        file appears under its name only once complete (written to ``.part``, then renamed). No token
        is sent: the URL is on the shop's own domain and Shoptet's SDK downloads it without one.
        Network errors and 5xx are retried like API calls; a 404 usually means the result expired
        (results are kept 24 h)."""
        dest = Path(dest_path)
        partial = dest.with_name(dest.name + ".part")
        path_for_log = httpx.URL(url).path
        failures = 0
        while True:
            started = time.perf_counter()
            digest, size = hashlib.sha256(), 0
            try:
                with (
                    self._slots,
                    self._http.stream("GET", url, headers={"Accept-Encoding": "identity", "Accept": "*/*"}) as resp,
                ):
                    if resp.status_code == 200:
                        with partial.open("wb") as out:
                            # iter_raw: keep the bytes as sent, even if a server labels them Content-Encoding.
                            for chunk in resp.iter_raw(1 << 16):
                                out.write(chunk)
                                digest.update(chunk)
                                size += len(chunk)
                    else:
                        resp.read()
                status = resp.status_code
            except httpx.TransportError as exc:
                partial.unlink(missing_ok=True)
                if failures >= self.max_retries:
                    raise ServerError(
                        f"shop {self.shop}: downloading {path_for_log} failed after {failures + 1} attempts: "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
                log.info("GET %s failed: %s; retrying", path_for_log, type(exc).__name__)
                self._sleep(self._backoff(failures))
                failures += 1
                continue
            except BaseException:
                partial.unlink(missing_ok=True)  # a full disk, an interrupt: leave no half file behind
                raise
            elapsed = (time.perf_counter() - started) * 1000
            log.info("GET %s -> %d, %d bytes in %.0f ms", path_for_log, status, size, elapsed)
            if status == 200:
                os.replace(partial, dest)
                return dest, digest.hexdigest(), size
            if status in _RETRYABLE_STATUSES and failures < self.max_retries:
                self._sleep(self._backoff(failures))
                failures += 1
                continue
            if status == 404:
                raise NotFound(
                    f"shop {self.shop}: result {path_for_log} not found (results are kept 24 h)", status_code=404
                )
            raise (ServerError if status >= 500 else ShoptetError)(
                f"shop {self.shop}: downloading {path_for_log} answered HTTP {status}", status_code=status
            )

    iter_snapshot_lines = staticmethod(iter_snapshot_lines)

    # ------------------------------------------------------------------ plumbing
    def _stream(
        self,
        path: str,
        key: str,
        model: type[M],
        identity: str,
        params: Mapping[str, Any],
        per_page: int,
        max_per_page: int,
    ) -> PageStream[M]:
        if per_page < 1:
            raise ValueError(f"items_per_page must be >= 1, got {per_page}")
        label = f"shop {self.shop} {path}"

        def fetch(query: dict[str, Any]) -> tuple[list[Any], Paginator]:
            response = self._get(path, _query(query))
            if stream.server_time is None:
                stream.server_time = http_date(response.headers.get("Date"))
            data = self._data(response, path)
            items = _field(data, key, path)
            if not isinstance(items, list):
                raise MalformedResponse(f"{label}: data.{key} is not a list")
            paginator = validate(Paginator, _field(data, "paginator", path), "page", label)
            return items, paginator

        stream = PageStream(
            fetch,
            model,
            params=_query(params),
            per_page=min(per_page, max_per_page),
            identity=identity,
            label=label,
        )
        return stream

    def _get(self, path: str, params: Mapping[str, Any] | None = None) -> httpx.Response:
        return self._request("GET", path, params=params)

    def _data(self, response: httpx.Response, what: str, *, code: str | None = None) -> Any:
        """The envelope's ``data``; MalformedResponse (naming ``code``) when the body is not a JSON envelope."""
        try:
            body = response.json()
        except ValueError as exc:
            raise MalformedResponse(
                f"shop {self.shop}: {what}: the answer is not JSON: {exc}",
                code=code,
                status_code=response.status_code,
                request_id=_request_id(response, None),
            ) from exc
        if not isinstance(body, dict) or body.get("data") is None:
            raise MalformedResponse(
                f"shop {self.shop}: {what}: the answer is not a Shoptet envelope with data",
                code=code,
                status_code=response.status_code,
                request_id=_request_id(response, body),
            )
        return body["data"]

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        ok: tuple[int, ...] = (200,),
    ) -> httpx.Response:
        """One API call with pacing, the connection semaphore, retries and error mapping (see module doc).

        The client only reads, so every retried request is idempotent."""
        failures = 0  # 5xx / 423 / network errors retried so far
        throttled = 0  # 429s slept through so far
        renewed = False
        while True:
            self._pace()
            started = time.perf_counter()
            try:
                headers = self.credentials.auth_headers()
                with self._slots:
                    started = time.perf_counter()
                    response = self._http.request(method, path, params=params, headers=headers)
            except httpx.TransportError as exc:
                log.info(
                    "%s %s failed after %.0f ms: %s",
                    method, path, (time.perf_counter() - started) * 1000, type(exc).__name__,
                )  # fmt: skip
                if failures >= self.max_retries:
                    raise ServerError(
                        f"shop {self.shop}: {method} {path} failed after {failures + 1} attempts: "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
                self._sleep(self._backoff(failures))
                failures += 1
                continue
            self._bucket.observe(response.headers.get("X-RateLimit-Bucket-Filling"))
            self._log(response, started)
            status = response.status_code
            if status in ok:
                return response
            if status == 429:
                wait_for = retry_after_seconds(response.headers.get("Retry-After"), self._clock())
                if wait_for is None:
                    # A 429 without Retry-After is the connection limit (3 per token), not the bucket.
                    wait_for = self._backoff(throttled)
                if wait_for <= self.max_rate_limit_wait and throttled < self.max_rate_limit_retries:
                    log.info("shoptet %s: rate limited, waiting %.1fs", self.shop, wait_for)
                    self._sleep(wait_for)
                    throttled += 1
                    continue
                raise self._error(response, retry_after=wait_for)
            if status == 401 and not renewed and self.credentials.renew_after_rejection(headers):
                renewed = True
                continue
            if status in _RETRYABLE_STATUSES and failures < self.max_retries:
                self._sleep(self._backoff(failures))
                failures += 1
                continue
            raise self._error(response)

    def _pace(self) -> None:
        wait_for = self._bucket.wait_time()
        if wait_for > 0:
            log.debug("shoptet %s: bucket at about %.0f%%, pausing %.2fs", self.shop, self._bucket_percent(), wait_for)
            self._sleep(wait_for)
        if self._limiter is not None:
            self._limiter.acquire()

    def _bucket_percent(self) -> float:
        filling, capacity = self._bucket.filling, self._bucket.capacity
        return 100.0 * filling / capacity if filling is not None and capacity else 0.0

    def _backoff(self, attempt: int) -> float:
        return backoff(attempt, base=self.backoff_base, ceiling=self.backoff_max, random=self._random)

    def _log(self, response: httpx.Response, started: float) -> None:
        request = response.request
        target = request.url.raw_path.decode("ascii", "replace")
        status = response.status_code
        log.log(
            logging.DEBUG if status < 400 else logging.INFO,
            "%s %s -> %d in %.0f ms (bucket %s, request id %s)",
            request.method,
            target,
            status,
            (time.perf_counter() - started) * 1000,
            response.headers.get("X-RateLimit-Bucket-Filling", "?"),
            response.headers.get("X-Request-ID", "-"),
        )
        if "X-Shoptet-Deprecated" in response.headers and request.url.path not in self._deprecations_seen:
            self._deprecations_seen.add(request.url.path)
            log.warning(
                "shoptet: %s is deprecated (%s); Sunset: %s",
                request.url.path,
                response.headers["X-Shoptet-Deprecated"],
                response.headers.get("Sunset", "not announced"),
            )

    def _error(self, response: httpx.Response, *, retry_after: float | None = None) -> ShoptetError:
        """The exception for a failed answer, with Shoptet's first error code and message."""
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        first = _first_error(body)
        code = first.error_code if first else None
        detail = f"{code}: {first.message}" if first else (response.text[:200].strip() or "no details")
        request_id = _request_id(response, body)
        status = response.status_code
        where = f"shop {self.shop}: {response.request.method} {response.request.url.path} -> {status} {detail}"
        kwargs: dict[str, Any] = {"status_code": status, "error_code": code, "request_id": request_id}
        if status == 401 or (status == 403 and (code in _TOKEN_ERROR_CODES or "token" in (code or ""))):
            return AuthenticationError(f"authentication failed for shop {self.shop}: {code or status}", **kwargs)
        if status == 403 and code == _JOB_POLL_LIMIT_CODE:
            return JobPollLimitExceeded(where, **kwargs)
        if status == 403:
            return Forbidden(where, **kwargs)
        if status == 404:
            return NotFound(where, **kwargs)
        if status == 429:
            seconds = retry_after if retry_after is not None else 0.0
            return RateLimited(
                f"shop {self.shop}: rate limited, retry after {seconds:.1f}s",
                retry_after_seconds=seconds,
                retry_at=http_date(response.headers.get("Retry-After")),
                **kwargs,
            )
        if status == 423:
            return Locked(where, **kwargs)
        if status in _INVALID_REQUEST_STATUSES:
            return InvalidRequest(where, **kwargs)
        if status >= 500:
            return ServerError(where + f" (after {self.max_retries} retries)", **kwargs)
        return ShoptetError(where, **kwargs)


# ---------------------------------------------------------------------------------------------- helpers
def _query(params: Mapping[str, Any]) -> dict[str, Any]:
    """Query parameters in Shoptet's spelling: camelCase names, ``+hhmm`` datetimes, csv lists, no Nones."""
    query: dict[str, Any] = {}
    for name, value in params.items():
        if value is None:
            continue
        key = to_camel(name) if "_" in name else name
        if isinstance(value, datetime):
            query[key] = format_shoptet_datetime(value)
        elif isinstance(value, date):
            query[key] = value.isoformat()
        elif isinstance(value, bool):
            query[key] = "true" if value else "false"
        elif isinstance(value, list | tuple | set | frozenset):
            query[key] = _csv(value)
        else:
            query[key] = value
    return query


def _csv(values: Iterable[Any]) -> str:
    return ",".join(str(v) for v in values)


def _segment(value: str) -> str:
    """A path segment: order codes may contain letters and dashes, never a slash; escape anything odd."""
    if not value:
        raise ValueError("an identifier in a Shoptet URL must not be empty")
    return httpx.URL("/" + value.replace("/", "%2F")).raw_path.decode().lstrip("/")


def _field(data: Any, key: str, what: str, *, code: str | None = None) -> Any:
    if not isinstance(data, dict) or key not in data:
        raise MalformedResponse(f"{what}: the answer's data has no {key!r}", code=code)
    return data[key]


def _object(value: Any, what: str, code: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedResponse(f"{what}: the record is not a JSON object", code=code)
    return value


def _first_error(body: Any) -> ApiError | None:
    if not isinstance(body, dict):
        return None
    try:
        envelope = Envelope[Any].model_validate(body)
    except ValidationError:
        return None
    return envelope.errors[0] if envelope.errors else None


def _request_id(response: httpx.Response, body: Any) -> str | None:
    header = response.headers.get("X-Request-ID")
    if header:
        return str(header)
    if isinstance(body, dict) and isinstance(body.get("metadata"), dict):
        value = body["metadata"].get("requestId")
        return str(value) if value else None
    return None


__all__ = [
    "DEFAULT_BASE_URL",
    "SNAPSHOT_PATHS",
    "PageStream",
    "ShoptetClient",
    "SnapshotLineError",
    "iter_snapshot_lines",
    "verify_snapshot",
]
