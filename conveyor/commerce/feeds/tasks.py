"""Registration of the supplier feeds: :func:`install` adds the commerce tables, the tasks and the schedules.

What :func:`install` registers:

=============================  =====================================================================================
``feeds.import.feed``          a feed's scheduled run (catalog entry ``feeds.import.<feed_id>``, hourly by default):
                               one run per enabled import task; unique per feed while it waits or runs, and a task
                               whose previous run is still going is skipped, so runs of a feed never overlap
``feeds.import.run``           one run: download, check, parse into the spool, dispatch the chunk batch (queue
                               ``import``; job lock ``feeds.import:{task_id}``)
``feeds.import.chunk``         one chunk of 500 mapped rows: upsert in one transaction (queue ``import``; retried)
``feeds.import.finish``        the chunk batch's callback: zero what the feed no longer lists, save validators, link
``feeds.link``                 auto-link a supplier's items to the catalogue (queue ``integrations``; unique per
                               supplier while it waits)
=============================  =====================================================================================

Every run is a row of the pipeline log (``commerce_pipeline_executions``, pipeline ``feeds.import`` or
``feeds.link``, no shop, ``feed_task_id`` set), the one the Shops page shows; see :mod:`.runs` for its steps.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from conveyor import ConfigurationError, Conveyor, RetryPolicy, Unique
from conveyor.commerce import store
from conveyor.commerce.feeds import linking, runs
from conveyor.commerce.feeds.actions import start_feed_runs
from conveyor.commerce.feeds.pack import _PACKS, DATA_DIR_ENV, DEFAULT_DATA_DIR, IMPORT_QUEUE, LINK_QUEUE, FeedsPack

log = logging.getLogger("conveyor.commerce.feeds")

#: Job states in which a waiting job absorbs a duplicate.
WAITING = ("available", "scheduled", "retryable")
#: Back-off of a chunk job that failed (a deadlock, a lost connection): it is retried before its run fails.
CHUNK_RETRY = RetryPolicy(delay=5.0, multiplier=2.0, max_delay=120.0, jitter=0.1)
DEFAULT_SCHEDULE = "0 * * * *"


def install(
    app: Conveyor,
    *,
    data_dir: Path | str | None = None,
    chunk_size: int = 500,
    secret_key: str | None = None,
    schedules: bool = True,
    import_queue: str = IMPORT_QUEUE,
    link_queue: str = LINK_QUEUE,
    download_timeout: float = 60.0,
    max_bytes: int | None = None,
    chunk_attempts: int = 3,
    local_roots: Sequence[Path | str] | None = None,
) -> FeedsPack:
    """Register the supplier feeds on ``app``: the commerce tables (``app.migrate()`` / ``conveyor db upgrade``
    create them), the tasks and, with ``schedules``, one catalog entry per scheduled feed.

    ``data_dir``: downloads and the rows waiting for chunk jobs (default ``$CONVEYOR_COMMERCE_DATA_DIR`` or
    ``./conveyor-data``); every worker of the import queue must see it. ``chunk_size``: mapped rows per chunk
    job. ``secret_key``: the key of the import tasks' credentials (default ``$CONVEYOR_COMMERCE_SECRET_KEY``,
    read on first use). ``download_timeout``: seconds without progress before a download fails;
    ``max_bytes``: the largest feed accepted. ``chunk_attempts``: attempts of a chunk job before its run fails.
    ``local_roots``: the directories a local-path source may lie in (default ``$CONVEYOR_FEEDS_LOCAL_ROOTS``,
    else ``{data_dir}/incoming``): whoever can add a feed cannot make the server read any other file.

    Schedules: feeds are rows in the database, so their catalog entries are declared from it here, when the
    database is reachable and migrated (otherwise none, logged), and again by the running scheduler every 30
    seconds (a catalog source), so a feed added later is scheduled without a restart; ``conveyor feeds
    import`` runs it at any time."""
    if app in _PACKS:
        raise ConfigurationError("the supplier feeds are already installed on this application")
    directory = Path(data_dir or os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR).expanduser().resolve()
    pack = FeedsPack(
        app,
        data_dir=directory,
        chunk_size=chunk_size,
        secret_key=secret_key,
        import_queue=import_queue,
        link_queue=link_queue,
        download_timeout=download_timeout,
        max_bytes=max_bytes,
        local_roots=local_roots,
    )
    if "commerce" not in app.schemas:
        app.add_schema("commerce", upgrade=store.upgrade, check=store.check_current)
    from conveyor.commerce.web import extend_feeds  # Integrations and Links pages and their API

    app.add_web_extension(extend_feeds)
    _register_tasks(pack, chunk_attempts)
    _PACKS[app] = pack
    if schedules:
        declare_schedules(pack)
        # The scheduler re-reads the feeds every half minute: a feed added later is scheduled without a restart.
        app.schedules.add_source(lambda _catalog: declare_schedules(pack), every=30.0)
    return pack


def schedule_key(feed_id: int) -> str:
    """The catalog key of a feed's schedule."""
    return f"feeds.import.{feed_id}"


def declare_schedules(pack: FeedsPack) -> int:
    """Declare a catalog entry for every enabled feed with a schedule that has none yet; returns how many."""
    from conveyor.commerce.store import feeds as feed_store

    try:
        with pack.app.read_transaction() as conn:
            scheduled = feed_store.scheduled_feeds(conn)
    except Exception as exc:  # no database yet, or not migrated: nothing to schedule
        log.info("supplier feeds: no feed schedules declared (%s)", str(exc).splitlines()[0][:200])
        return 0
    added = 0
    for feed in scheduled:
        if declare_feed_schedule(pack, feed.id, feed.name, feed.schedule or DEFAULT_SCHEDULE):
            added += 1
    return added


def declare_feed_schedule(pack: FeedsPack, feed_id: int, name: str, cron: str) -> bool:
    """Declare one feed's catalog entry in this process (False if it is already declared)."""
    key = schedule_key(feed_id)
    if key in pack.app.schedules.entries:
        return False
    pack.app.schedule(
        key,
        task=pack.tasks["feeds.import.feed"],
        cron=cron,
        params={"feed_id": feed_id, "trigger": "cron"},
        overlap=False,
        description=f"Supplier feed {name!r}: import every task",
    )
    return True


def _register_tasks(pack: FeedsPack, chunk_attempts: int) -> None:
    app = pack.app
    waiting_or_running = [*WAITING, "executing"]

    @app.task(
        name="feeds.import.feed",
        queue=pack.import_queue,
        unique=Unique(key="{feed_id}", states=waiting_or_running),
        max_attempts=1,
        store_result=True,
    )
    def import_feed(feed_id: int, trigger: str = "cron") -> dict[str, Any]:
        """A feed's scheduled run: one import run per enabled task (a task still running is skipped)."""
        return start_feed_runs(pack, feed_id, trigger)

    @app.task(
        name="feeds.import.run",
        queue=pack.import_queue,
        lock="feeds.import:{task_id}",
        max_attempts=1,  # a failed run ends as error; the next scheduled run (or the user) tries again
        store_result=True,
    )
    def import_run(task_id: int, execution_id: int) -> dict[str, Any]:
        """Download, check and parse a feed, then dispatch its chunk jobs (see :mod:`.runs`)."""
        return runs.run_import(pack, execution_id)

    @app.task(name="feeds.import.chunk", queue=pack.import_queue, max_attempts=chunk_attempts, retry=CHUNK_RETRY)
    def import_chunk(execution_id: int, index: int, offset: int, count: int) -> dict[str, Any]:
        """Upsert one chunk of a run's mapped rows in one transaction."""
        return runs.import_chunk(pack, execution_id, index, offset, count)

    @app.task(name="feeds.import.finish", queue=pack.import_queue, max_attempts=5, retry=CHUNK_RETRY, store_result=True)
    def import_finish(batch_id: int) -> dict[str, Any]:
        """The chunk batch's callback: complete the run (zeroing, validators, linking) or fail it."""
        return runs.finish_run(pack, batch_id)

    @app.task(
        name="feeds.link",
        queue=pack.link_queue,
        lock="feeds.link",
        unique=Unique(key="{supplier_id}", states=list(WAITING)),
        max_attempts=3,
        retry=CHUNK_RETRY,
        store_result=True,
    )
    def link(supplier_id: int | None = None, trigger: str = "manual") -> dict[str, Any]:
        """Auto-link a supplier's open items (all suppliers' with None) to the catalogue."""
        return linking.run_linking(pack, supplier_id, trigger)

    pack.tasks.update({t.name: t for t in (import_feed, import_run, import_chunk, import_finish, link)})
