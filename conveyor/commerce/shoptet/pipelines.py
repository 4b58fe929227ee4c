"""The Shoptet pipelines as Conveyor tasks and schedules, and the functions the CLI and the web layer call.

```python
from conveyor import Conveyor
from conveyor.commerce.shoptet.pipelines import install, add_shop, request_snapshot

app = Conveyor("postgresql://…")
shoptet = install(app, data_dir="/var/lib/conveyor")   # tasks, schedules, the commerce tables
add_shop(app, "acme", base_url="https://api.myshoptet.com", token="…", eshop_id=222651)
request_snapshot(app, shop_id=1, kind="orders")         # -> execution id; a worker does the rest
```

What :func:`install` registers:

==========================================  ====================================================================
``shoptet.orders.fetch_new``                schedule every 5 min (no overlap): one ``…_for_shop`` job per Shoptet shop
``shoptet.orders.fetch_new_for_shop``       orders changed since the cursor, list → details → import by diff;
                                            job lock ``snapshot:{shop_id}:orders-incremental``
``shoptet.products.import_master``          schedule hourly: the master shop (every Shoptet shop if none is master)
``shoptet.products.import_master_for_shop`` products (variants, codes, EANs) changed since the cursor
``shoptet.orders.fetch_one``                one order a webhook named; unique per (shop, code) while it waits
``shoptet.snapshot``                        a full export (orders/products/customers): see :mod:`.snapshots`
``commerce.customers.backfill_from_orders`` link guest orders to customers, as a batch of chunk jobs
``commerce.inventory.refresh_metrics``      receives touched variant codes, 50 a job (a no-op for now)
==========================================  ====================================================================

Every run is a row in ``commerce_pipeline_executions`` (trigger ``cron``, ``manual``, ``webhook`` or
``retry``; status queued → running → completed/error; counts; record errors). A run that fails ends its
execution as ``error`` and its job is retried by Conveyor — that shop's job only. Shop credentials live
encrypted in the shop row (key: ``secret_key`` or ``CONVEYOR_COMMERCE_SECRET_KEY``): ``token`` (private API
token) or ``oauth_token`` (+ ``oauth_url``), and for webhooks ``eshop_id`` and ``signature_key``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError
from sqlalchemy import Connection, select

from conveyor import (
    ConfigurationError,
    Conveyor,
    ConveyorError,
    RetryPolicy,
    Task,
    Unique,
)
from conveyor.commerce import store
from conveyor.commerce.shoptet import snapshots, sync
from conveyor.commerce.shoptet.auth import AccessTokenManager, CachedToken, Credentials, PrivateApiToken
from conveyor.commerce.shoptet.client import ShoptetClient
from conveyor.commerce.shoptet.webhooks import parse_notification, verify
from conveyor.commerce.store import CredentialCipher, Execution, ExecutionError, Shop, SnapshotFile
from conveyor.commerce.store.executions import ExecutionStatus
from conveyor.commerce.store.schema import snapshot_files

log = logging.getLogger("conveyor.commerce.shoptet")

PLATFORM = "shoptet"
DATA_DIR_ENV = "CONVEYOR_COMMERCE_DATA_DIR"
DEFAULT_DATA_DIR = "conveyor-data"
SNAPSHOT_KINDS = snapshots.SNAPSHOT_KINDS
#: Pipelines that can be run now (:func:`run_pipeline`), by the name executions carry.
PIPELINES = ("orders.fetch_new", "products.import_master", "customers.backfill_from_orders")
#: Webhook events that make a targeted fetch of the order they name.
ORDER_EVENTS = frozenset({"order:create", "order:update", "order:cancel", "order:paid", "order:delete"})
#: What :func:`register_webhooks` registers by default: new and changed orders, and finished snapshots.
DEFAULT_WEBHOOK_EVENTS = ("order:create", "order:update", "job:finished")
#: Job states in which a queued pipeline job absorbs a duplicate (not while it executes: an event that
#: arrives during a run must cause another run, as the running one may have read the old data).
WAITING = ("available", "scheduled", "retryable")
#: Back-off between attempts of an incremental run that failed (network, 5xx, …).
DEFAULT_RETRY = RetryPolicy(delay=30.0, multiplier=2.0, max_delay=900.0, jitter=0.1)

_PACKS: weakref.WeakKeyDictionary[Conveyor, ShoptetPack] = weakref.WeakKeyDictionary()


# ---------------------------------------------------------------------------------------------- errors
class PipelineError(ConveyorError):
    """Base of the errors of the Shoptet pipelines' API (one line in the CLI, exit 2)."""


class UnknownPipelineError(PipelineError):
    """:func:`run_pipeline` was given a name that is not a pipeline."""


class WebhookSignatureError(PipelineError):
    """A webhook's ``Shoptet-Webhook-Signature`` is missing or matches no shop's signature key. Answer 401;
    nothing was recorded or enqueued."""


class WebhookPayloadError(PipelineError):
    """A correctly signed webhook whose body is not a Shoptet notification (answer 400)."""


class SnapshotNotRetryableError(PipelineError):
    """:func:`retry_snapshot` on an execution that is not a failed snapshot."""


# ---------------------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class WebhookResult:
    """What :func:`handle_webhook` did with a notification (answer 200 in every case)."""

    shop_id: int
    event: str
    instance: str
    #: The recorded event's id; None for a repeated identity (redelivery, or a second event in the same second).
    event_id: int | None
    duplicate: bool
    #: The fetch job an order event caused (a burst for one order shares one job), else None.
    job_id: int | None = None
    execution_id: int | None = None

    @property
    def action(self) -> str:
        """One line for logs and the HTTP answer."""
        if self.duplicate and self.job_id is not None:
            return f"repeated {self.event} {self.instance} (same eventCreated): fetching it (job {self.job_id})"
        if self.duplicate:
            return f"duplicate {self.event} {self.instance}: ignored"
        if self.job_id is not None:
            return f"{self.event} {self.instance}: fetching it (job {self.job_id})"
        if self.event == "job:finished":
            return f"job:finished {self.instance}: recorded (wakes the snapshot waiting for it)"
        return f"{self.event} {self.instance}: recorded"


@dataclass(frozen=True)
class ShopOverview:
    """A shop as the Shops page shows it: its sync cursors and last executions (no credentials)."""

    shop: Shop
    cursors: dict[str, str | None]
    executions: list[Execution]
    #: "private token", "oauth" or "none"
    auth: str
    #: Whether webhooks can be verified (a signature key is stored).
    webhooks: bool
    eshop_id: int | None = None
    #: Per cursor: ``{"reason", "since", "runs"}`` while it cannot move, else None.
    stalls: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    #: Tracked records per state (``failing``, ``parked``, ``dismissed``).
    parked: dict[str, int] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------- the pack
class ShoptetPack:
    """The Shoptet pipelines installed on one application: settings, its tasks, and per-process API clients.

    Created by :func:`install`; :func:`pack_of` finds it again from the app."""

    def __init__(
        self,
        app: Conveyor,
        *,
        data_dir: Path,
        secret_key: str | None,
        fallback_lookback_hours: float,
        detail_concurrency: int,
        queue: str,
        snapshot_first_poll: float,
        max_rate_limit_wait: float,
        shared_rate: float | None,
        client_options: Mapping[str, Any] | None = None,
        cursor_margin: float = 5.0,
        min_window_seconds: float = 60.0,
        park_after_failures: int = 3,
    ) -> None:
        if cursor_margin < 0:
            raise ConfigurationError(f"cursor_margin must be >= 0 seconds, got {cursor_margin}")
        if min_window_seconds <= 0:
            raise ConfigurationError(f"min_window_seconds must be > 0, got {min_window_seconds}")
        if park_after_failures < 1:
            raise ConfigurationError(f"park_after_failures must be at least 1, got {park_after_failures}")
        if fallback_lookback_hours <= 0:
            raise ConfigurationError(f"fallback_lookback_hours must be > 0, got {fallback_lookback_hours}")
        if not 1 <= detail_concurrency <= 3:
            raise ConfigurationError(
                f"detail_concurrency must be 1–3 (Shoptet allows 3 connections per token), got {detail_concurrency}"
            )
        self.app = app
        self.data_dir = data_dir
        self.fallback_lookback_hours = fallback_lookback_hours
        self.detail_concurrency = detail_concurrency
        self.queue = queue
        self.snapshot_first_poll = snapshot_first_poll
        self.max_rate_limit_wait = max_rate_limit_wait
        self.shared_rate = shared_rate
        self.client_options = dict(client_options or {})
        self.cursor_margin = cursor_margin
        self.min_window_seconds = min_window_seconds
        self.park_after_failures = park_after_failures
        self._secret_key = secret_key
        self._cipher: CredentialCipher | None = None
        self._clients: dict[int, tuple[int, str, ShoptetClient]] = {}
        self._clients_lock = threading.Lock()
        self.tasks: dict[str, Task[Any, Any]] = {}

    def __repr__(self) -> str:
        return f"<ShoptetPack data_dir={str(self.data_dir)!r} queue={self.queue!r}>"

    @property
    def cipher(self) -> CredentialCipher:
        """The credentials cipher, created on first use (so installing needs no key until a shop is used)."""
        if self._cipher is None:
            self._cipher = CredentialCipher(self._secret_key)
        return self._cipher

    @property
    def inventory_task(self) -> Task[Any, Any]:
        return self.tasks["commerce.inventory.refresh_metrics"]

    def credentials(self, shop_id: int) -> dict[str, Any]:
        """The shop's decrypted credentials."""
        with self.app.driver.read() as conn:
            return store.shop_credentials(conn, self.cipher, shop_id)

    def client(self, shop: Shop) -> ShoptetClient:
        """This process's API client for the shop, shared by its threads (one 3-connection semaphore and one
        view of Shoptet's bucket per shop and process). Rebuilt when the shop's URL or credentials change."""
        creds = self.credentials(shop.id)
        fingerprint = _fingerprint(shop, creds)
        pid = os.getpid()
        with self._clients_lock:
            cached = self._clients.get(shop.id)
            if cached is not None and cached[0] == pid and cached[1] == fingerprint:
                return cached[2]
            client = ShoptetClient(
                _api_credentials(self, shop, creds),
                base_url=shop.base_url,
                shop=shop.name,
                app=self.app if self.shared_rate else None,
                shared_rate=self.shared_rate,
                **{"max_connections": 3, "max_rate_limit_wait": self.max_rate_limit_wait, **self.client_options},
            )
            if cached is not None and cached[0] == pid:
                _close(cached[2])
            self._clients[shop.id] = (pid, fingerprint, client)
            return client

    def close(self) -> None:
        """Close this process's API clients."""
        with self._clients_lock:
            clients, self._clients = self._clients, {}
        pid = os.getpid()
        for owner, _, client in clients.values():
            if owner == pid:
                _close(client)


def _close(client: ShoptetClient) -> None:
    """Close a client and, for an add-on shop, its token manager's own HTTP client."""
    client.close()
    if isinstance(client.credentials, AccessTokenManager):
        client.credentials.close()


def _fingerprint(shop: Shop, creds: dict[str, Any]) -> str:
    static = {k: v for k, v in creds.items() if k != "access_token"}
    raw = json.dumps([shop.base_url, shop.name, static], sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


def _api_credentials(pack: ShoptetPack, shop: Shop, creds: dict[str, Any]) -> Credentials:
    if creds.get("token"):
        return PrivateApiToken(str(creds["token"]))
    if creds.get("oauth_token"):
        return AccessTokenManager(
            str(creds.get("oauth_url") or shop.base_url),
            str(creds["oauth_token"]),
            shop_key=f"shop-{shop.id}",
            cache=ShopTokenCache(pack, shop.id),
            app=pack.app,
        )
    raise ConfigurationError(f"shop {shop.name!r} has neither a private API token nor an OAuth token")


class ShopTokenCache:
    """A :class:`~conveyor.commerce.shoptet.auth.TokenCache` in the shop's encrypted credentials.

    Shoptet allows 5 valid access tokens per add-on installation; keeping the current one in the database
    lets every worker process reuse it (the token manager refreshes under a named lock, so they never all
    fetch one). It is encrypted like the rest of the credentials. Reads are served from memory until the
    token is about to expire, then from the database, where another process may have put a fresh one."""

    def __init__(self, pack: ShoptetPack, shop_id: int, *, reread_margin: float = 120.0) -> None:
        self.pack, self.shop_id, self.reread_margin = pack, shop_id, reread_margin
        self._local: CachedToken | None = None

    def get(self, key: str) -> CachedToken | None:
        local = self._local
        if local is not None and local.expires_at - self.reread_margin > time.time():
            return local
        stored = self.pack.credentials(self.shop_id).get("access_token")
        if isinstance(stored, dict) and stored.get("token") and stored.get("expires_at"):
            self._local = CachedToken(str(stored["token"]), float(stored["expires_at"]))
        else:
            self._local = None
        return self._local

    def put(self, key: str, token: CachedToken) -> None:
        self._update({"token": token.token, "expires_at": token.expires_at})
        self._local = token

    def delete(self, key: str) -> None:
        self._update(None)
        self._local = None

    def _update(self, value: dict[str, Any] | None) -> None:
        cipher = self.pack.cipher
        with self.pack.app.driver.begin() as conn:
            creds = store.shop_credentials(conn, cipher, self.shop_id)
            if value is None:
                creds.pop("access_token", None)
            else:
                creds["access_token"] = value
            store.set_shop_credentials(conn, cipher, self.shop_id, creds)


# ---------------------------------------------------------------------------------------------- install
def install(
    app: Conveyor,
    *,
    data_dir: Path | str | None = None,
    secret_key: str | None = None,
    fallback_lookback_hours: float = 24,
    detail_concurrency: int = 3,
    queue: str = "default",
    schedules: bool = True,
    snapshot_first_poll: float = 5.0,
    max_rate_limit_wait: float = 30.0,
    shared_rate: float | None = None,
    retry: RetryPolicy | None = None,
    client_options: Mapping[str, Any] | None = None,
    cursor_margin: float = 5.0,
    min_window_seconds: float = 60.0,
    park_after_failures: int = 3,
) -> ShoptetPack:
    """Register the Shoptet pipelines on ``app``: the commerce tables (``app.migrate()`` / ``conveyor db
    upgrade`` create them), the tasks and, with ``schedules``, the catalog entries (see the module docstring).

    ``data_dir``: where snapshots are stored (default ``$CONVEYOR_COMMERCE_DATA_DIR`` or ``./conveyor-data``).
    ``secret_key``: the key of the shops' credentials (default ``$CONVEYOR_COMMERCE_SECRET_KEY``; read on first
    use). ``fallback_lookback_hours``: how far back a shop's first incremental run looks.
    ``detail_concurrency``: detail requests in flight per run (Shoptet allows 3 connections per token).
    ``snapshot_first_poll``: seconds before the first poll of a snapshot job (then doubling; the
    ``job:finished`` webhook cuts a pause short). ``max_rate_limit_wait``: the longest ``Retry-After`` a
    worker thread sleeps through; longer waits snooze the job. ``shared_rate``: requests per second per shop
    across every worker, through a Conveyor rate limit (default: pace on Shoptet's bucket header only).
    ``retry``: back-off between attempts of a failed incremental run. ``client_options``: further
    :class:`~conveyor.commerce.shoptet.client.ShoptetClient` options (``max_retries``, ``backoff_base``,
    ``timeout``…). ``cursor_margin``: seconds an incremental cursor stays behind Shoptet's clock (its
    ``Date`` header). ``min_window_seconds``: the narrowest window a run splits a churning list into.
    ``park_after_failures``: failed runs in a row after which a malformed record is parked (it stops
    holding the cursor; see :func:`list_parked`).
    """
    if app in _PACKS:
        raise ConfigurationError("the Shoptet pipelines are already installed on this application")
    directory = Path(data_dir or os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR).expanduser().resolve()
    pack = ShoptetPack(
        app,
        data_dir=directory,
        secret_key=secret_key,
        fallback_lookback_hours=float(fallback_lookback_hours),
        detail_concurrency=detail_concurrency,
        queue=queue,
        snapshot_first_poll=snapshot_first_poll,
        max_rate_limit_wait=max_rate_limit_wait,
        shared_rate=shared_rate,
        client_options=client_options,
        cursor_margin=cursor_margin,
        min_window_seconds=min_window_seconds,
        park_after_failures=park_after_failures,
    )
    app.add_schema("commerce", upgrade=store.upgrade, check=store.check_current)
    from conveyor.commerce.web import extend  # the Shops pages, their API and the webhook endpoint

    app.add_web_extension(extend)
    _register_tasks(pack, retry or DEFAULT_RETRY)
    if schedules:
        app.schedule(
            "shoptet.orders.fetch_new",
            task=pack.tasks["shoptet.orders.fetch_new"],
            cron="*/5 * * * *",
            overlap=False,
            description="Shoptet: orders changed since the last run, for every Shoptet shop",
        )
        app.schedule(
            "shoptet.products.import_master",
            task=pack.tasks["shoptet.products.import_master"],
            cron="0 * * * *",
            overlap=False,
            description="Shoptet: products changed since the last run, from the master shop",
        )
    _PACKS[app] = pack
    return pack


def pack_of(app: Conveyor) -> ShoptetPack:
    """The pack :func:`install` put on ``app``; :class:`~conveyor.ConfigurationError` if there is none."""
    pack = _PACKS.get(app)
    if pack is None:
        raise ConfigurationError(
            "the Shoptet pipelines are not installed on this application: call "
            "conveyor.commerce.shoptet.pipelines.install(app) where the app is defined"
        )
    return pack


def _register_tasks(pack: ShoptetPack, retry: RetryPolicy) -> None:
    app, queue = pack.app, pack.queue
    waiting = list(WAITING)

    @app.task(name="shoptet.orders.fetch_new", queue=queue, store_result=True)
    def fetch_new() -> dict[str, Any]:
        """Scheduled every 5 minutes: queue one incremental order sync per Shoptet shop."""
        with app.driver.read() as conn:
            shops = store.list_shops(conn, platform=PLATFORM)
        return _fan_out(pack, fetch_new_for_shop, "orders.fetch_new", shops)

    @app.task(
        name="shoptet.orders.fetch_new_for_shop",
        queue=queue,
        lock="snapshot:{shop_id}:orders-incremental",
        unique=Unique(key="{shop_id}", states=waiting),
        max_attempts=5,
        retry=retry,
        store_result=True,
    )
    def fetch_new_for_shop(shop_id: int, trigger: str = "manual") -> dict[str, Any]:
        """Orders changed since the shop's cursor: list, details, import by diff, cursor (see ``sync``)."""
        try:
            return sync.run_incremental(pack, shop_id, sync.ORDERS, trigger)
        except sync.ShopGone as exc:
            return sync.gone(exc)

    @app.task(name="shoptet.products.import_master", queue=queue, store_result=True)
    def import_master() -> dict[str, Any]:
        """Scheduled hourly: queue the product sync of the master shop (of every Shoptet shop if no shop
        is the master: a single-shop setup should not import nothing because nobody ticked "master")."""
        with app.driver.read() as conn:
            master = store.master_shop(conn)
            shops = [master] if master is not None else store.list_shops(conn, platform=PLATFORM)
        return _fan_out(
            pack, import_master_for_shop, "products.import_master", [s for s in shops if s.platform == PLATFORM]
        )

    @app.task(
        name="shoptet.products.import_master_for_shop",
        queue=queue,
        lock="snapshot:{shop_id}:products-incremental",
        unique=Unique(key="{shop_id}", states=waiting),
        max_attempts=5,
        retry=retry,
        store_result=True,
    )
    def import_master_for_shop(shop_id: int, trigger: str = "manual") -> dict[str, Any]:
        """Products changed since the shop's cursor, with their variants (codes, EANs, stock, prices)."""
        try:
            return sync.run_incremental(pack, shop_id, sync.PRODUCTS, trigger)
        except sync.ShopGone as exc:
            return sync.gone(exc)

    @app.task(
        name="shoptet.orders.fetch_one",
        queue=queue,
        unique=Unique(key="{shop_id}:{code}", states=waiting),
        max_attempts=5,
        retry=retry,
        store_result=True,
    )
    def fetch_one(shop_id: int, code: str) -> dict[str, Any]:
        """Fetch and import the order a webhook named; a burst of events for it waits as one job."""
        try:
            return sync.fetch_one_order(pack, shop_id, code)
        except sync.ShopGone as exc:
            return sync.gone(exc)

    @app.task(
        name="shoptet.snapshot",
        queue=queue,
        lock="snapshot:{shop_id}:{kind}",
        unique=Unique(key="{shop_id}:{kind}", states=waiting),
        max_attempts=1,  # a failed snapshot is retried on purpose (retry_snapshot), from its file if intact
        store_result=True,
    )
    def snapshot(shop_id: int, kind: str, trigger: str = "manual", file_id: int | None = None) -> dict[str, Any]:
        """A full export: request, wait (webhook or gentle polls), download, verify, import in chunks."""
        try:
            return snapshots.run_snapshot(pack, shop_id, kind, trigger, file_id)
        except sync.ShopGone as exc:
            return sync.gone(exc)

    pack.tasks.update(
        {t.name: t for t in (fetch_new, fetch_new_for_shop, import_master, import_master_for_shop, fetch_one, snapshot)}
    )
    _register_commerce_tasks(pack, retry)


def _register_commerce_tasks(pack: ShoptetPack, retry: RetryPolicy) -> None:
    """Platform-independent tasks, registered once per app (another platform's pack may share them)."""
    app, queue = pack.app, pack.queue
    names = (
        "commerce.inventory.refresh_metrics",
        "commerce.customers.backfill_from_orders",
        "commerce.customers.link_orders",
        "commerce.customers.backfill_finished",
    )
    if all(name in app.tasks for name in names):
        pack.tasks.update({name: app.tasks[name] for name in names})
        return

    @app.task(name="commerce.inventory.refresh_metrics", queue=queue)
    def refresh_metrics(shop_id: int, variant_codes: list[str]) -> None:
        """Recompute inventory metrics for these variants (at most 50 per job, deduplicated per run).

        Deliberately a no-op until the analytics issue fills it in: the pipelines already hand over every
        variant whose stock an import may have moved, in the import's own transaction, so the metrics step
        can be added without touching them."""
        return None

    @app.task(
        name="commerce.customers.backfill_from_orders",
        queue=queue,
        lock="customers-backfill:{shop_id}",
        unique=Unique(key="{shop_id}", states=list(WAITING)),
        max_attempts=3,
        retry=retry,
        store_result=True,
    )
    def backfill_from_orders(shop_id: int, trigger: str = "manual") -> dict[str, Any]:
        """Find the shop's orders without a customer and link them in chunked jobs (a batch)."""
        try:
            return sync.backfill_customers(pack, shop_id, trigger, link_orders, backfill_finished)
        except sync.ShopGone as exc:
            return sync.gone(exc)

    @app.task(name="commerce.customers.link_orders", queue=queue, max_attempts=5, retry=retry, store_result=True)
    def link_orders(execution_id: int, shop_id: int, orders: list[list[Any]]) -> dict[str, int]:
        """One chunk of the backfill: link each guest order to the customer with its e-mail (or a new one)."""
        return sync.link_guest_orders(pack, execution_id, shop_id, orders)

    @app.task(name="commerce.customers.backfill_finished", queue=queue, store_result=True)
    def backfill_finished(batch_id: int) -> dict[str, Any]:
        """The backfill batch's callback: completes (or fails) its execution."""
        return sync.finish_backfill(pack, batch_id)

    pack.tasks.update({t.name: t for t in (refresh_metrics, backfill_from_orders, link_orders, backfill_finished)})


def _fan_out(pack: ShoptetPack, task: Task[Any, Any], pipeline: str, shops: Sequence[Shop]) -> dict[str, Any]:
    """One job (and queued execution) per shop, in one transaction. A shop whose previous job still waits
    gets no second one (the task is unique while waiting): a slow shop never piles up runs."""
    queued: dict[str, int] = {}
    with pack.app.driver.begin() as conn:
        for shop in shops:
            _, job_id = sync.enqueue_run(
                conn, task, [shop.id], shop_id=shop.id, pipeline=pipeline, trigger="cron", kwargs={"trigger": "cron"}
            )
            queued[shop.name] = job_id
    log.info("%s: queued %d shop(s): %s", pipeline, len(queued), ", ".join(queued) or "none")
    return {"pipeline": pipeline, "jobs": queued}


# ---------------------------------------------------------------------------------------------- shops
def add_shop(
    app: Conveyor,
    name: str,
    *,
    base_url: str,
    token: str | None = None,
    oauth_token: str | None = None,
    oauth_url: str | None = None,
    eshop_id: int | None = None,
    signature_key: str | None = None,
    is_master: bool = False,
    timezone: str = "Europe/Prague",
) -> Shop:
    """Add a Shoptet shop. ``token``: a private API token (Premium shops); or ``oauth_token`` (an add-on's
    installation token, exchanged at ``oauth_url``, default ``base_url``, for short-lived access tokens).
    ``eshop_id`` and ``signature_key`` let :func:`handle_webhook` accept the shop's webhooks
    (:func:`register_webhooks` fetches the key from Shoptet)."""
    pack = pack_of(app)
    if not token and not oauth_token:
        raise ConfigurationError(f"shop {name!r} needs a private API token (--token) or an OAuth token (--oauth-token)")
    if not base_url.startswith(("http://", "https://")):
        raise ConfigurationError(f"the shop's API URL must start with http:// or https://, got {base_url!r}")
    credentials: dict[str, Any] = {}
    for key, value in (
        ("token", token),
        ("oauth_token", oauth_token),
        ("oauth_url", oauth_url),
        ("eshop_id", eshop_id),
        ("signature_key", signature_key),
    ):
        if value is not None and value != "":
            credentials[key] = value
    with app.driver.begin() as conn:
        return store.create_shop(
            conn,
            pack.cipher,
            platform=PLATFORM,
            name=name,
            base_url=base_url.rstrip("/"),
            credentials=credentials,
            timezone=timezone,
            is_master=is_master,
        )


def find_shop(app: Conveyor, ref: int | str) -> Shop:
    """A shop by id, or by name (``"7"`` is tried as an id first, then as a name)."""
    with app.driver.read() as conn:
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            try:
                return store.get_shop(conn, int(ref))
            except store.ShopNotFoundError:
                if isinstance(ref, int):
                    raise
        return store.get_shop_by_name(conn, str(ref))


def list_shops(app: Conveyor) -> list[Shop]:
    """Every Shoptet shop, by id."""
    with app.driver.read() as conn:
        return store.list_shops(conn, platform=PLATFORM)


def remove_shop(app: Conveyor, shop_id: int) -> bool:
    """Delete a shop and everything stored for it; False if there was none. Its queued jobs still run and
    end at once ("shop N no longer exists"); its snapshot files stay on disk."""
    with app.driver.begin() as conn:
        return store.delete_shop(conn, shop_id)


def update_shop(app: Conveyor, shop_id: int, *, base_url: str | None = None, webhook_url: str | None = None) -> Shop:
    """Change a shop's API URL and/or register its webhooks to ``webhook_url`` (see :func:`register_webhooks`:
    a shop added without a webhook URL cannot take snapshots until it has the ``job:finished`` webhook)."""
    shop = find_shop(app, shop_id)
    if base_url is not None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigurationError(f"the shop's API URL must start with http:// or https://, got {base_url!r}")
        with app.driver.begin() as conn:
            shop = store.set_shop_base_url(conn, shop.id, base_url.rstrip("/"))
    if webhook_url is not None:
        if not webhook_url.startswith(("http://", "https://")):
            raise ConfigurationError(f"the webhook URL must start with http:// or https://, got {webhook_url!r}")
        register_webhooks(app, shop.id, webhook_url)
    return shop


# ---------------------------------------------------------------------------------------------- parked
#: The record kind each incremental pipeline parks, and the pipeline that retries it.
PARKED_PIPELINES = {"order": "orders.fetch_new", "product": "products.import_master"}


def list_parked(
    app: Conveyor,
    shop_id: int | None = None,
    *,
    include_failing: bool = False,
    after_id: int = 0,
    limit: int = 100,
) -> list[store.ParkedRecord]:
    """Records that failed run after run and were parked (and those an operator dismissed), by id; with
    ``include_failing``, also those still failing that will be parked if they fail again."""
    statuses = list(store.ParkedStatus)
    if not include_failing:
        statuses.remove(store.ParkedStatus.FAILING)
    with app.driver.read() as conn:
        return store.list_parked(conn, shop_id, statuses=statuses, after_id=after_id, limit=limit)


def retry_parked(app: Conveyor, record_id: int) -> int:
    """Retry a parked (or dismissed) record now: it is due at once and its pipeline runs for the shop.
    Returns that run's job id."""
    with app.driver.begin() as conn:
        record = store.retry_parked(conn, record_id)
    pipeline = PARKED_PIPELINES.get(record.kind)
    if pipeline is None:
        raise PipelineError(f"record {record_id} is a {record.kind}: no Shoptet pipeline retries that kind")
    return run_pipeline(app, record.shop_id, pipeline, trigger="retry")


def dismiss_parked(app: Conveyor, record_id: int) -> store.ParkedRecord:
    """Stop retrying a parked record; it stays listed as ``dismissed``."""
    with app.driver.begin() as conn:
        return store.dismiss_parked(conn, record_id)


def shops_overview(app: Conveyor, *, executions: int = 10) -> list[ShopOverview]:
    """Every Shoptet shop with its cursors and its last ``executions`` runs, for the Shops page."""
    pack = pack_of(app)
    overview = []
    with app.driver.read() as conn:
        for shop in store.list_shops(conn, platform=PLATFORM):
            creds = store.shop_credentials(conn, pack.cipher, shop.id)
            keys = (sync.CURSOR_ORDERS, sync.CURSOR_PRODUCTS)
            cursors = {key: store.get_cursor(conn, shop.id, key) for key in keys}
            stalls = {key: sync.get_stall(conn, shop.id, key) for key in keys}
            auth = "private token" if creds.get("token") else "oauth" if creds.get("oauth_token") else "none"
            eshop = creds.get("eshop_id")
            overview.append(
                ShopOverview(
                    shop=shop,
                    cursors=cursors,
                    executions=store.list_executions(conn, shop.id, limit=executions),
                    auth=auth,
                    webhooks=bool(creds.get("signature_key")),
                    eshop_id=int(eshop) if eshop is not None else None,
                    stalls=stalls,
                    parked=store.count_parked(conn, shop.id),
                )
            )
    return overview


def list_executions(
    app: Conveyor,
    shop_id: int | None = None,
    *,
    pipeline: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[Execution]:
    """Executions newest first: one shop's (keyset pages with ``before_id``), or every Shoptet shop's."""
    with app.driver.read() as conn:
        if shop_id is not None:
            return store.list_executions(conn, shop_id, pipeline=pipeline, before_id=before_id, limit=limit)
        runs: list[Execution] = []
        for shop in store.list_shops(conn, platform=PLATFORM):
            runs.extend(store.list_executions(conn, shop.id, pipeline=pipeline, before_id=before_id, limit=limit))
    return sorted(runs, key=lambda e: e.id, reverse=True)[:limit]


def get_execution(app: Conveyor, execution_id: int) -> Execution:
    """One execution; :class:`~conveyor.commerce.store.ExecutionNotFoundError` if there is none."""
    with app.driver.read() as conn:
        return store.get_execution(conn, execution_id)


def execution_errors(app: Conveyor, execution_id: int, *, after_id: int = 0, limit: int = 100) -> list[ExecutionError]:
    """The records an execution could not import (code and reason), a page after ``after_id``."""
    with app.driver.read() as conn:
        return store.list_errors(conn, execution_id, after_id=after_id, limit=limit)


# ---------------------------------------------------------------------------------------------- run now
def run_pipeline(app: Conveyor, shop_id: int, pipeline: str, *, trigger: str = "manual") -> int:
    """Run a pipeline for one shop now ("run now"): ``orders.fetch_new``, ``products.import_master`` or
    ``customers.backfill_from_orders``. Returns the job id; when that shop's job for the pipeline already
    waits, that job's id (one waiting run is enough)."""
    pack = pack_of(app)
    name = pipeline.removeprefix("shoptet.").removeprefix("commerce.")
    tasks = {
        "orders.fetch_new": "shoptet.orders.fetch_new_for_shop",
        "products.import_master": "shoptet.products.import_master_for_shop",
        "customers.backfill_from_orders": "commerce.customers.backfill_from_orders",
    }
    if name not in tasks:
        raise UnknownPipelineError(f"unknown pipeline {pipeline!r} (pipelines: {', '.join(PIPELINES)})")
    with app.driver.begin() as conn:
        store.get_shop(conn, shop_id)
        _, job_id = sync.enqueue_run(
            conn, pack.tasks[tasks[name]], [shop_id], shop_id=shop_id, pipeline=name, trigger=trigger,
            kwargs={"trigger": trigger},
        )  # fmt: skip
    return job_id


# ---------------------------------------------------------------------------------------------- snapshots
def request_snapshot(app: Conveyor, shop_id: int, kind: str) -> int:
    """Ask for a full snapshot of ``kind`` (orders, products, customers); returns the execution id (queued).

    A worker requests the export, waits for it, downloads it under the data dir and imports it with
    progress (``get_execution``, and the job's progress). A second request while one waits returns the
    waiting one's execution."""
    pack = pack_of(app)
    if kind not in SNAPSHOT_KINDS:
        raise ConfigurationError(f"unknown snapshot kind {kind!r} (kinds: {', '.join(SNAPSHOT_KINDS)})")
    with app.driver.begin() as conn:
        store.get_shop(conn, shop_id)
        execution_id, _ = sync.enqueue_run(
            conn, pack.tasks["shoptet.snapshot"], [shop_id, kind], shop_id=shop_id,
            pipeline=snapshots.pipeline_name(kind), trigger="manual",
        )  # fmt: skip
    return execution_id


def retry_snapshot(app: Conveyor, execution_id: int) -> int:
    """Retry a failed snapshot; returns the new execution's id.

    Its file is imported again without downloading when the recorded checksum still matches and the file
    reads to its end; otherwise the result is downloaded again (or, once Shoptet no longer has it, a new
    export is requested)."""
    pack = pack_of(app)
    with app.driver.begin() as conn:
        execution = store.get_execution(conn, execution_id)
        kind = execution.pipeline.removeprefix("snapshot.")
        if not execution.pipeline.startswith("snapshot.") or kind not in SNAPSHOT_KINDS:
            raise SnapshotNotRetryableError(
                f"execution {execution_id} is a {execution.pipeline} run, not a snapshot: use run_pipeline"
            )
        if execution.status is not ExecutionStatus.ERROR:
            raise SnapshotNotRetryableError(
                f"execution {execution_id} is {execution.status.value}: only a failed snapshot can be retried"
            )
        file = _file_of_execution(conn, execution_id)
        new_id, _ = sync.enqueue_run(
            conn,
            pack.tasks["shoptet.snapshot"],
            [execution.shop_id, kind],
            shop_id=execution.shop_id,
            pipeline=execution.pipeline,
            trigger="retry",
            kwargs={"trigger": "retry", "file_id": file.id if file else None},
        )
    return new_id


def snapshot_file_of(app: Conveyor, execution_id: int) -> SnapshotFile | None:
    """The file a snapshot execution downloaded (or re-used), if it got that far."""
    with app.driver.read() as conn:
        return _file_of_execution(conn, execution_id)


def _file_of_execution(conn: Connection, execution_id: int) -> SnapshotFile | None:
    file_id = conn.execute(
        select(snapshot_files.c.id)
        .where(snapshot_files.c.execution_id == execution_id)
        .order_by(snapshot_files.c.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return None if file_id is None else store.get_snapshot_file(conn, int(file_id))


# ---------------------------------------------------------------------------------------------- webhooks
def handle_webhook(app: Conveyor, raw_body: bytes, signature: str | None) -> WebhookResult:
    """Accept one Shoptet notification (``POST /webhooks/shoptet``).

    Which shop sent it is decided by the signature itself, before the body is parsed: the raw bytes are
    checked against each Shoptet shop's signature key, and the shop whose key signs them is the sender (its
    stored ``eshop_id``, when set, must match the body's). No match: :class:`WebhookSignatureError` (answer
    401), nothing recorded or enqueued. The event is recorded once (a repeated delivery is acknowledged and
    counted); an order event queues ``shoptet.orders.fetch_one`` in the same transaction (one waiting job per
    order, however many events arrive; a repeated one too, as it may be a second change in the same
    second); ``job:finished`` wakes the snapshot waiting for that export."""
    pack = pack_of(app)
    if not signature:
        raise WebhookSignatureError("the Shoptet-Webhook-Signature header is missing")
    with app.driver.read() as conn:
        shops = [
            (s, store.shop_credentials(conn, pack.cipher, s.id)) for s in store.list_shops(conn, platform=PLATFORM)
        ]
    signed_by = [
        (s, c) for s, c in shops if c.get("signature_key") and verify(raw_body, signature, str(c["signature_key"]))
    ]
    if not signed_by:
        raise WebhookSignatureError("the webhook signature matches no Shoptet shop's signature key")
    try:
        notification = parse_notification(raw_body)
    except ValidationError as exc:
        raise WebhookPayloadError(f"the webhook body is not a Shoptet notification: {exc.errors()[0]['msg']}") from None
    candidates = [(s, c) for s, c in signed_by if c.get("eshop_id") in (None, notification.eshop_id)]
    exact = [(s, c) for s, c in candidates if c.get("eshop_id") == notification.eshop_id]
    chosen = exact or candidates
    if not chosen:
        raise WebhookPayloadError(
            f"eshopId {notification.eshop_id} is not the e-shop of shop {signed_by[0][0].name!r}, whose key signed it"
        )
    shop = chosen[0][0]
    created = notification.event_created.timestamp() if notification.event_created else time.time()
    job_id = execution_id = None
    with app.driver.begin() as conn:
        event_id = store.record_webhook_event(conn, shop.id, notification.event, notification.event_instance, created)
        if event_id is None:
            # Same (event, instance, eventCreated): a redelivery, or a second change of the order in the same
            # second (eventCreated has 1 s resolution). Count it; an order event still fetches the order: the
            # fetch is idempotent (import by diff) and a waiting fetch absorbs it, so a redelivery costs at
            # most one "unchanged" read while a real second change is never lost.
            store.count_repeat_delivery(conn, shop.id, notification.event, notification.event_instance, created)
        if notification.event in ORDER_EVENTS:
            execution_id, job_id = sync.enqueue_run(
                conn, pack.tasks["shoptet.orders.fetch_one"], [shop.id, notification.event_instance],
                shop_id=shop.id, pipeline="orders.fetch_one", trigger="webhook",
            )  # fmt: skip
    result = WebhookResult(
        shop_id=shop.id,
        event=notification.event,
        instance=notification.event_instance,
        event_id=event_id,
        duplicate=event_id is None,
        job_id=job_id,
        execution_id=execution_id,
    )
    log.info("shop %s webhook: %s", shop.name, result.action)
    return result


def register_webhooks(
    app: Conveyor,
    shop_id: int,
    url: str,
    *,
    events: Sequence[str] = DEFAULT_WEBHOOK_EVENTS,
    renew_signature_key: bool = False,
) -> list[str]:
    """Register this installation's webhook ``url`` for ``events`` at Shoptet; returns the events newly
    registered (those already registered are left alone).

    Snapshots need ``job:finished`` registered (Shoptet refuses them otherwise). Shoptet hands out the
    signature key only by renewing it, so the key is renewed and stored in the shop's credentials when none
    is stored yet, or when ``renew_signature_key``. A 423 (the same request still running at Shoptet) or
    429 (rate limit) is retried after ``Retry-After`` (or a short back-off), up to
    :data:`WEBHOOK_REQUEST_ATTEMPTS` times: Shoptet ran nothing for either answer."""
    pack = pack_of(app)
    shop = find_shop(app, shop_id)
    creds = pack.credentials(shop.id)
    headers = {**_api_credentials(pack, shop, creds).auth_headers(), "Content-Type": "application/json"}
    with httpx.Client(base_url=shop.base_url, headers=headers, timeout=30.0) as http:
        if renew_signature_key or not creds.get("signature_key"):
            data = _answer(_send(http, "POST", "/api/webhooks/renew-signature-key"), shop, "renewing the signature key")
            creds["signature_key"] = str(data["signatureKey"])
            with app.driver.begin() as conn:
                store.set_shop_credentials(conn, pack.cipher, shop.id, creds)
        data = _answer(_send(http, "GET", "/api/webhooks", params={"itemsPerPage": 500}), shop, "listing webhooks")
        registered = {hook.get("event") for hook in data.get("webhooks") or []}
        new = [event for event in events if event not in registered]
        if new:
            body = {"data": [{"event": event, "url": url} for event in new]}
            _answer(_send(http, "POST", "/api/webhooks", json=body), shop, "registering webhooks")
    log.info("shop %s: webhooks registered for %s", shop.name, ", ".join(new) or "nothing new")
    return new


#: Attempts of one webhook-management request answered 423 or 429.
WEBHOOK_REQUEST_ATTEMPTS = 6


def _send(http: httpx.Client, method: str, path: str, *, sleep: Any = time.sleep, **kwargs: Any) -> httpx.Response:
    """One webhook-management request, retried while Shoptet answers 423 (locked) or 429 (rate limited)."""
    for attempt in range(WEBHOOK_REQUEST_ATTEMPTS):
        response = http.request(method, path, **kwargs)
        if response.status_code not in (423, 429) or attempt == WEBHOOK_REQUEST_ATTEMPTS - 1:
            return response
        wait = _retry_after(response.headers.get("Retry-After"))
        sleep(min(30.0, wait if wait is not None else 0.5 * 2**attempt))
    raise AssertionError("unreachable")  # pragma: no cover


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _answer(response: httpx.Response, shop: Shop, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code >= 400 or not isinstance(body, dict):
        errors = body.get("errors") if isinstance(body, dict) else None
        detail = errors[0].get("message") if errors else response.text[:200]
        raise PipelineError(f"shop {shop.name}: {what} failed: HTTP {response.status_code}: {detail}")
    data = body.get("data")
    return data if isinstance(data, dict) else {}


__all__ = [
    "DEFAULT_WEBHOOK_EVENTS",
    "PIPELINES",
    "SNAPSHOT_KINDS",
    "PipelineError",
    "ShopOverview",
    "ShopTokenCache",
    "ShoptetPack",
    "SnapshotNotRetryableError",
    "UnknownPipelineError",
    "WebhookPayloadError",
    "WebhookResult",
    "WebhookSignatureError",
    "add_shop",
    "dismiss_parked",
    "execution_errors",
    "find_shop",
    "get_execution",
    "handle_webhook",
    "install",
    "list_executions",
    "list_parked",
    "list_shops",
    "pack_of",
    "register_webhooks",
    "remove_shop",
    "request_snapshot",
    "retry_parked",
    "retry_snapshot",
    "run_pipeline",
    "shops_overview",
    "snapshot_file_of",
    "update_shop",
]
