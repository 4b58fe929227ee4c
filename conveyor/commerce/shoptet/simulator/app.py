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
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import FastAPI, Request, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from conveyor.commerce.shoptet.simulator.config import SimulatorConfig
from conveyor.commerce.shoptet.simulator.limits import http_date
from conveyor.commerce.shoptet.simulator.responses import ApiError, ShoptetJSON, error_body, request_id, rid_of
from conveyor.commerce.shoptet.simulator.routes import controls, customers, jobs, oauth, orders, products, webhooks
from conveyor.commerce.shoptet.simulator.state import Simulator

__all__ = ["create_app"]

log = logging.getLogger("conveyor.commerce.shoptet.simulator")


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
        response = ShoptetJSON(error_body(exc.code, exc.message, exc.instance, rid_of(request)), status_code=exc.status)
        response.headers.update(exc.headers)
        return response

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> Response:
        """A bug in the simulator still answers in Shoptet's envelope (and is logged), like a real 500."""
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        body = error_body("unknown-error", f"Simulator error: {type(exc).__name__}: {exc}", "unknown", rid_of(request))
        return ShoptetJSON(body, status_code=500)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        body = error_body(code, str(exc.detail), request.url.path, rid_of(request))
        return ShoptetJSON(body, status_code=exc.status_code)

    for resource in (orders, products, customers, jobs, webhooks, oauth, controls):
        resource.add_routes(app, sim)
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
