"""The simulated shop's moving parts: access tokens, registered webhooks and their delivery, snapshot jobs, and
:class:`Simulator`, which holds them with the shop's data, limits and faults for the routes to use."""

from __future__ import annotations

import functools
import gzip
import hashlib
import heapq
import hmac
import itertools
import logging
import os
import queue
import random
import secrets
import shutil
import string
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from conveyor.commerce.shoptet.simulator.config import SimulatorConfig
from conveyor.commerce.shoptet.simulator.data import ShopData, format_time
from conveyor.commerce.shoptet.simulator.limits import ConcurrencyLimiter, LeakyBuckets, WriteLocks
from conveyor.commerce.shoptet.simulator.responses import ApiError, dumps, truncated

# Required fields a "missing-field" malformed record loses, per kind, picked by index.
DROPPABLE = {
    "orders": ("items", "price", "creationTime", "status"),
    "products": ("variants", "guid", "changeTime"),
    "customers": ("guid", "billingAddress", "changeTime"),
}

log = logging.getLogger("conveyor.commerce.shoptet.simulator")


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
class Delivery:
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
        self._inbox: queue.Queue[Delivery | None] = queue.Queue()
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
        self._inbox.put(Delivery(time.monotonic(), next(self._seq), url, body, event))

    def _run(self) -> None:
        waiting: list[Delivery] = []
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

    def _send(self, client: httpx.Client, delivery: Delivery, waiting: list[Delivery]) -> None:
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
        fields = DROPPABLE[kind]
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
        self.deliverer.submit(hook.url, event, dumps(body))
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
            yield dumps(rendered) if rendered is not None else truncated(dumps(record))

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
