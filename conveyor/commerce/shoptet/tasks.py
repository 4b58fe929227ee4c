"""Registration of the Shoptet pack: :func:`install` adds the commerce tables, the tasks and the schedules.

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

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from conveyor import ConfigurationError, Conveyor, RetryPolicy, Task, Unique
from conveyor.commerce import store
from conveyor.commerce.shoptet import snapshots, sync
from conveyor.commerce.shoptet.pack import _PACKS, DATA_DIR_ENV, DEFAULT_DATA_DIR, PLATFORM, ShoptetPack
from conveyor.commerce.store import Shop

#: Job states in which a queued pipeline job absorbs a duplicate (not while it executes: an event that
#: arrives during a run must cause another run, as the running one may have read the old data).
WAITING = ("available", "scheduled", "retryable")

log = logging.getLogger("conveyor.commerce.shoptet")


#: Back-off between attempts of an incremental run that failed (network, 5xx, …).
DEFAULT_RETRY = RetryPolicy(delay=30.0, multiplier=2.0, max_delay=900.0, jitter=0.1)


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


def _register_tasks(pack: ShoptetPack, retry: RetryPolicy) -> None:
    app, queue = pack.app, pack.queue
    waiting = list(WAITING)

    @app.task(name="shoptet.orders.fetch_new", queue=queue, store_result=True)
    def fetch_new() -> dict[str, Any]:
        """Scheduled every 5 minutes: queue one incremental order sync per Shoptet shop."""
        with app.read_transaction() as conn:
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
        with app.read_transaction() as conn:
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
    with pack.app.transaction() as conn:
        for shop in shops:
            _, job_id = sync.enqueue_run(
                conn, task, [shop.id], shop_id=shop.id, pipeline=pipeline, trigger="cron", kwargs={"trigger": "cron"}
            )
            queued[shop.name] = job_id
    log.info("%s: queued %d shop(s): %s", pipeline, len(queued), ", ".join(queued) or "none")
    return {"pipeline": pipeline, "jobs": queued}
