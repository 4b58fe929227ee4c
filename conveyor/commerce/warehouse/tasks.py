"""Registration of the warehouse: :func:`install` adds the commerce tables and the debounced stock-change job.

==============================  ===================================================================================
``warehouse.stock_changed``     reads the stock-change outbox (``commerce_stock_changes``) and hands the changed
                                item ids to every listener registered with :func:`on_stock_changed`; unique
                                while it waits, so a burst of postings makes one job (queued ``delay`` seconds
                                after the burst's first posting); never two at once (lock)
==============================  ===================================================================================

Each posting (through :mod:`.actions`) queues the job in the posting's own transaction, so a job exists
exactly when there are changes to report. The job consumes the outbox rows in the same transaction in which
it calls the listeners: a listener that raises leaves the rows for the retry (at least once, never lost).
Listeners are registered in the process that runs the worker (the app module, like tasks).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

from conveyor import ConfigurationError, Conveyor, RetryPolicy, Task, Unique
from conveyor.commerce import store
from conveyor.commerce.store import stock
from conveyor.commerce.store.documents import DEFAULT_NUMBER_FORMAT, check_number_format

log = logging.getLogger("conveyor.commerce.warehouse")

#: A listener: called with the transaction that consumes the outbox rows and the changed item ids (sorted,
#: each once per call). Do bookkeeping or queue jobs there (``task.enqueue(..., connection=conn)``); do not
#: call remote APIs inside it (the transaction holds SQLite's write lock).
StockListener = Callable[[Connection, list[int]], None]

#: Job states in which a queued stock-change job absorbs the next posting's (not while it runs: a posting
#: that commits after the job read the outbox needs another run).
WAITING = ("available", "scheduled", "retryable")

STOCK_CHANGED = "warehouse.stock_changed"

_PACKS: weakref.WeakKeyDictionary[Conveyor, WarehousePack] = weakref.WeakKeyDictionary()


class WarehousePack:
    """The warehouse installed on one application: its settings, its task and the stock-change listeners."""

    def __init__(
        self,
        app: Conveyor,
        *,
        queue: str,
        stock_changed_delay: float,
        number_format: str,
        timezone: str,
        batch_size: int,
    ) -> None:
        if stock_changed_delay < 0:
            raise ConfigurationError(f"stock_changed_delay must be >= 0 seconds, got {stock_changed_delay}")
        if batch_size < 1:
            raise ConfigurationError(f"batch_size must be at least 1, got {batch_size}")
        self.app = app
        self.queue = queue
        self.stock_changed_delay = float(stock_changed_delay)
        self.number_format = check_number_format(number_format)
        self.timezone = timezone
        self.batch_size = batch_size
        self.listeners: list[StockListener] = []
        self.tasks: dict[str, Task[Any, Any]] = {}

    def __repr__(self) -> str:
        return f"<WarehousePack queue={self.queue!r} listeners={len(self.listeners)}>"

    def notify(self, conn: Connection) -> int:
        """Queue the stock-change job in ``conn``'s transaction (or return the one already waiting)."""
        task = self.tasks[STOCK_CHANGED]
        if self.stock_changed_delay:
            return task.enqueue_in(self.stock_changed_delay, connection=conn)
        return task.enqueue(connection=conn)


def install(
    app: Conveyor,
    *,
    queue: str = "default",
    stock_changed_delay: float = 2.0,
    number_format: str = DEFAULT_NUMBER_FORMAT,
    timezone: str = "UTC",
    batch_size: int = 5000,
    retry: RetryPolicy | None = None,
) -> WarehousePack:
    """Register the warehouse on ``app``: the commerce tables (``app.migrate()`` / ``conveyor db upgrade``)
    and the ``warehouse.stock_changed`` task (see the module docstring).

    ``stock_changed_delay``: seconds between a burst's first posting and the job that reports it (the
    debounce). ``number_format``: document numbers, from ``{type}``, ``{year}`` and ``{seq}`` (default
    ``{type}/{year}/{seq:05d}`` → ``WZ/2026/00042``). ``timezone``: the IANA zone whose calendar year a
    posting is numbered in. ``batch_size``: outbox rows per listener call. ``retry``: back-off after a
    listener failed."""
    if app in _PACKS:
        raise ConfigurationError("the warehouse is already installed on this application")
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(f"unknown time zone {timezone!r} (use an IANA name such as 'Europe/Prague')") from None
    pack = WarehousePack(
        app,
        queue=queue,
        stock_changed_delay=stock_changed_delay,
        number_format=number_format,
        timezone=timezone,
        batch_size=batch_size,
    )
    app.add_schema("commerce", upgrade=store.upgrade, check=store.check_current)
    from conveyor.commerce.web import extend_warehouse  # Catalogue, Stock and Documents pages and their API

    app.add_web_extension(extend_warehouse)
    _register_tasks(pack, retry or RetryPolicy(delay=5.0, multiplier=2.0, max_delay=300.0, jitter=0.1))
    _PACKS[app] = pack
    return pack


def pack_of(app: Conveyor) -> WarehousePack:
    """The warehouse installed on ``app``; :class:`~conveyor.ConfigurationError` if :func:`install` was not
    called."""
    pack = _PACKS.get(app)
    if pack is None:
        raise ConfigurationError(
            "the warehouse is not installed on this application: call "
            "conveyor.commerce.warehouse.install(app) in your app module"
        )
    return pack


def on_stock_changed(app: Conveyor, callback: StockListener) -> StockListener:
    """Call ``callback(conn, item_ids)`` for every batch of items whose stock changed (see
    :data:`StockListener`); returns it, so it can be used as a decorator."""
    pack_of(app).listeners.append(callback)
    return callback


def _register_tasks(pack: WarehousePack, retry: RetryPolicy) -> None:
    app = pack.app

    @app.task(
        name=STOCK_CHANGED,
        queue=pack.queue,
        unique=Unique(key="stock_changed", states=list(WAITING)),
        lock="warehouse:stock_changed",
        max_attempts=10,
        retry=retry,
        store_result=True,
    )
    def stock_changed() -> dict[str, Any]:
        """Report the items whose stock changed since the last run to the listeners, a batch at a time."""
        return report_stock_changes(pack)

    pack.tasks[STOCK_CHANGED] = stock_changed


def report_stock_changes(pack: WarehousePack) -> dict[str, int]:
    """Consume the outbox and call the listeners, one transaction per batch; returns the counts."""
    items = batches = 0
    while True:
        with pack.app.transaction() as conn:
            changed = stock.take_stock_changes(conn, limit=pack.batch_size)
            if not changed:
                break
            for listener in pack.listeners:
                listener(conn, changed)
        items += len(changed)
        batches += 1
    if batches:
        log.info("stock changed: %d item(s) reported to %d listener(s)", items, len(pack.listeners))
    return {"items": items, "batches": batches, "listeners": len(pack.listeners)}
