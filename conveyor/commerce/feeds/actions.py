"""What the CLI, the web pages and the JSON API do with supplier feeds: one function per user action.

Each opens its own transaction(s) on the application and returns plain dataclasses. Lists are keyset-paginated:
pass the last id of a page (``after_id`` for lists in id order, ``before_id`` for newest-first ones).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conveyor import Conveyor, InvalidStateError
from conveyor.commerce import store
from conveyor.commerce.feeds import runs
from conveyor.commerce.feeds.errors import FeedNotFoundError
from conveyor.commerce.feeds.pack import FeedsPack, pack_of
from conveyor.commerce.store import Execution, ExecutionError
from conveyor.commerce.store import feeds as feed_store
from conveyor.commerce.store import links as link_store
from conveyor.commerce.store.executions import ExecutionStatus
from conveyor.commerce.store.feeds import Feed, FeedRun, FeedTask, Supplier, SupplierItem
from conveyor.commerce.store.links import ItemLink

log = logging.getLogger("conveyor.commerce.feeds")


# ---------------------------------------------------------------------------------------------- suppliers
def add_supplier(app: Conveyor, code: str, name: str) -> Supplier:
    """Add a supplier (its ``code`` is unique)."""
    with app.transaction() as conn:
        return feed_store.create_supplier(conn, code=code, name=name)


def list_suppliers(app: Conveyor, *, after_id: int = 0, limit: int = 100) -> list[Supplier]:
    """Suppliers by id, a page after ``after_id``."""
    with app.read_transaction() as conn:
        return feed_store.list_suppliers(conn, after_id=after_id, limit=limit)


def find_supplier(app: Conveyor, ref: int | str) -> Supplier:
    """A supplier by id or code; :class:`FeedNotFoundError` if there is none."""
    with app.read_transaction() as conn:
        return feed_store.get_supplier(conn, ref)


# ---------------------------------------------------------------------------------------------- feeds
def add_feed(
    app: Conveyor,
    supplier: int | str,
    name: str,
    *,
    source: str,
    mappings: Mapping[str, Any],
    schedule: str | None = "0 * * * *",
    task_name: str = "default",
    format: str = "auto",
    encoding: str | None = None,
    item_path: str | None = None,
    auth: Mapping[str, Any] | None = None,
) -> tuple[Feed, FeedTask]:
    """Add a feed integration with its first import task, in one transaction. ``mappings`` is checked as a
    :class:`~conveyor.commerce.feeds.parsing.FeedMapping` first; ``schedule`` is a cron (None: manual only).
    The feed's schedule is declared in this process at once (see :func:`~.tasks.install` for the others)."""
    from conveyor.commerce.feeds.parsing import load_mapping

    pack = pack_of(app)
    mapping = load_mapping(mappings).model_dump(exclude_defaults=True)
    if schedule is not None:
        from conveyor.scheduler import validate_cron

        schedule = validate_cron(schedule)
    cipher = pack.cipher if auth is not None else None
    with app.transaction() as conn:
        owner = feed_store.get_supplier(conn, supplier)
        feed = feed_store.create_feed(conn, supplier_id=owner.id, name=name, schedule=schedule)
        task = feed_store.create_feed_task(
            conn,
            cipher,
            feed_id=feed.id,
            name=task_name,
            source=pack_of(app).check_source(source),
            mappings=mapping,
            format=format,
            encoding=encoding,
            item_path=item_path,
            auth=auth,
        )
    if schedule is not None:
        from conveyor.commerce.feeds.tasks import declare_feed_schedule

        declare_feed_schedule(pack, feed.id, feed.name, schedule)
    return feed, task


def add_task(
    app: Conveyor,
    feed: int | str,
    *,
    source: str,
    mappings: Mapping[str, Any],
    name: str = "default",
    format: str = "auto",
    encoding: str | None = None,
    item_path: str | None = None,
    auth: Mapping[str, Any] | None = None,
) -> FeedTask:
    """Add another import task (another file) to a feed."""
    from conveyor.commerce.feeds.parsing import load_mapping

    mapping = load_mapping(mappings).model_dump(exclude_defaults=True)
    cipher = pack_of(app).cipher if auth is not None else None
    with app.transaction() as conn:
        owner = feed_store.get_feed(conn, feed)
        return feed_store.create_feed_task(
            conn,
            cipher,
            feed_id=owner.id,
            name=name,
            source=pack_of(app).check_source(source),
            mappings=mapping,
            format=format,
            encoding=encoding,
            item_path=item_path,
            auth=auth,
        )


def update_task(app: Conveyor, task_id: int, **changes: Any) -> FeedTask:
    """Change an import task (source, mappings, format, encoding, item_path, auth, enabled); a changed mapping
    is checked first, and the validators are forgotten so the next run imports the content again."""
    from conveyor.commerce.feeds.parsing import load_mapping

    if changes.get("mappings") is not None:
        changes["mappings"] = load_mapping(changes["mappings"]).model_dump(exclude_defaults=True)
    if changes.get("source") is not None:
        changes["source"] = pack_of(app).check_source(changes["source"])
    cipher = pack_of(app).cipher if changes.get("auth") else None
    with app.transaction() as conn:
        return feed_store.update_feed_task(conn, cipher, task_id, **changes)


def find_feed(app: Conveyor, ref: int | str) -> Feed:
    """A feed by id or name; :class:`FeedNotFoundError` if there is none."""
    with app.read_transaction() as conn:
        return feed_store.get_feed(conn, ref)


def feed_tasks(app: Conveyor, feed: int | str) -> list[FeedTask]:
    """A feed's import tasks."""
    with app.read_transaction() as conn:
        owner = feed_store.get_feed(conn, feed)
        return feed_store.list_feed_tasks(conn, owner.id, limit=1000)


@dataclass(frozen=True)
class RunView:
    """A feed run as the pages show it: the execution (status, counts, error) and the run's own record."""

    execution: Execution
    run: FeedRun

    @property
    def outcome(self) -> str:
        if self.run.outcome:
            return self.run.outcome
        return "failed" if self.execution.status is ExecutionStatus.ERROR else self.execution.status.value


@dataclass(frozen=True)
class FeedOverview:
    """A feed in the Integrations list: its supplier, tasks, last run and next scheduled run."""

    feed: Feed
    supplier: Supplier
    tasks: list[FeedTask]
    last_run: RunView | None
    next_run_at: float | None

    @property
    def status(self) -> str:
        """``disabled``, ``never run``, or the last run's outcome (``running`` while it is going)."""
        if not self.feed.enabled:
            return "disabled"
        if self.last_run is None:
            return "never run"
        return self.last_run.outcome


def _run_views(conn: Any, runs_: Sequence[FeedRun]) -> list[RunView]:
    return [RunView(store.get_execution(conn, r.execution_id), r) for r in runs_]


def list_feeds(app: Conveyor, *, after_id: int = 0, limit: int = 50) -> list[FeedOverview]:
    """Feeds by id with last and next run, a page after ``after_id``."""
    from conveyor.commerce.feeds.tasks import schedule_key

    next_at: dict[str, float | None] = {}
    try:
        next_at = {v.key: v.next_at for v in app.schedules.views() if v.key.startswith("feeds.import.")}
    except Exception as exc:  # the catalog table may not exist yet on a fresh database
        log.debug("no schedule catalog: %s", exc)
    out = []
    with app.read_transaction() as conn:
        for feed in feed_store.list_feeds(conn, after_id=after_id, limit=limit):
            tasks = feed_store.list_feed_tasks(conn, feed.id, limit=1000)
            last = feed_store.list_feed_runs(conn, task_ids=[t.id for t in tasks], limit=1) if tasks else []
            out.append(
                FeedOverview(
                    feed,
                    feed_store.get_supplier(conn, feed.supplier_id),
                    tasks,
                    _run_views(conn, last)[0] if last else None,
                    next_at.get(schedule_key(feed.id)) if feed.schedule and feed.enabled else None,
                )
            )
    return out


def get_feed_overview(app: Conveyor, feed: int | str) -> FeedOverview:
    """One feed as :func:`list_feeds` shows it."""
    found = find_feed(app, feed)
    return list_feeds(app, after_id=found.id - 1, limit=1)[0]


# ---------------------------------------------------------------------------------------------- runs
def _enqueue_run(
    pack: FeedsPack, task: FeedTask, trigger: str, *, row_limit: int | None = None, dry_run: bool = False
) -> int:
    """Queue a run of one task with its queued execution, in one transaction; refuses while one is going."""
    with pack.app.read_transaction() as conn:
        busy = feed_store.open_run_of_task(conn, task.id)
    if busy is not None and not runs.heal_stale_run(pack, busy):
        raise InvalidStateError(
            f"import task {task.id} already has a run in progress (execution {busy}): wait for it to end "
            f"(conveyor feeds show {task.feed_id})"
        )
    run_task = pack.tasks["feeds.import.run"]
    with pack.app.transaction() as conn:
        if feed_store.open_run_of_task(conn, task.id) is not None:
            raise InvalidStateError(f"import task {task.id} already has a run in progress")
        execution_id = store.start_execution(conn, None, runs.PIPELINE, trigger, queued=True, feed_task_id=task.id)
        feed_store.create_feed_run(conn, execution_id, task.id, row_limit=row_limit, dry_run=dry_run)
        job_id = run_task.enqueue(task.id, execution_id, connection=conn)
        feed_store.attach_job(conn, execution_id, job_id)
    return execution_id


def request_import(
    app: Conveyor,
    feed: int | str,
    *,
    task_id: int | None = None,
    limit: int | None = None,
    dry_run: bool = False,
    trigger: str = "manual",
) -> list[int]:
    """Queue an import of the feed's enabled tasks (or of ``task_id`` only); returns the execution ids.
    ``limit``: the first N data rows only (never zeroes); ``dry_run``: parse, map and report, write nothing."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1 row, got {limit}")
    pack = pack_of(app)
    with app.read_transaction() as conn:
        owner = feed_store.get_feed(conn, feed)
        tasks = feed_store.list_feed_tasks(conn, owner.id, limit=1000)
    if task_id is not None:
        tasks = [t for t in tasks if t.id == task_id]
        if not tasks:
            raise FeedNotFoundError(f"feed {owner.name!r} has no import task {task_id}")
    else:
        tasks = [t for t in tasks if t.enabled]
        if not tasks:
            raise FeedNotFoundError(f"feed {owner.name!r} has no enabled import task")
    return [_enqueue_run(pack, t, trigger, row_limit=limit, dry_run=dry_run) for t in tasks]


def start_feed_runs(pack: FeedsPack, feed_id: int, trigger: str) -> dict[str, Any]:
    """The scheduled job of a feed: queue a run per enabled task; a task whose last run is still going is
    skipped (logged), so runs never overlap."""
    try:
        with pack.app.read_transaction() as conn:
            feed = feed_store.get_feed(conn, feed_id)
            tasks = [t for t in feed_store.list_feed_tasks(conn, feed_id, limit=1000) if t.enabled]
    except FeedNotFoundError:
        log.warning("feed %s no longer exists: nothing to import", feed_id)
        return {"skipped": f"feed {feed_id} no longer exists"}
    if not feed.enabled:
        return {"skipped": f"feed {feed.name!r} is disabled"}
    queued: dict[int, int] = {}
    skipped: dict[int, str] = {}
    for task in tasks:
        try:
            queued[task.id] = _enqueue_run(pack, task, trigger)
        except InvalidStateError as exc:
            skipped[task.id] = str(exc)
            log.info("feed %r: %s; skipped", feed.name, exc)
    return {"feed_id": feed_id, "queued": queued, "skipped": skipped}


def list_runs(
    app: Conveyor,
    feed: int | str | None = None,
    *,
    task_id: int | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[RunView]:
    """Import runs newest first (of a feed, or one task), a page before ``before_id``."""
    with app.read_transaction() as conn:
        task_ids: list[int] | None = None
        if task_id is not None:
            task_ids = [task_id]
        elif feed is not None:
            owner = feed_store.get_feed(conn, feed)
            task_ids = [t.id for t in feed_store.list_feed_tasks(conn, owner.id, limit=1000)]
        found = feed_store.list_feed_runs(conn, task_ids=task_ids, before_id=before_id, limit=limit)
        return _run_views(conn, found)


def get_run(app: Conveyor, execution_id: int) -> RunView:
    """One import run; :class:`FeedNotFoundError` if that execution is not one."""
    with app.read_transaction() as conn:
        run = feed_store.get_feed_run(conn, execution_id)
        return RunView(store.get_execution(conn, execution_id), run)


def row_errors(app: Conveyor, execution_id: int, *, after_id: int = 0, limit: int = 100) -> list[ExecutionError]:
    """A run's bad rows (line, code, reason), in the order found, a page after ``after_id``."""
    with app.read_transaction() as conn:
        return store.list_errors(conn, execution_id, after_id=after_id, limit=limit)


def preview_task(app: Conveyor, task_id: int, *, n: int = 10) -> Any:
    """The first ``n`` rows of the task's feed as read and as mapped (a
    :class:`~conveyor.commerce.feeds.parsing.Preview`), for the mapping editor: downloads the feed (no
    conditional GET), stores its columns as the task's ``last_headers``, writes nothing else."""
    from conveyor.commerce.feeds.parsing import load_mapping, preview

    pack = pack_of(app)
    with app.read_transaction() as conn:
        task = feed_store.get_feed_task(conn, task_id)
    scratch = Path(tempfile.mkdtemp(prefix="preview-", dir=_ensure(pack.data_dir / "feeds")))
    try:
        fetched = runs.fetch(pack, task, conditional=False, dest=scratch)
        assert fetched is not None
        fmt: Any = task.format
        result = preview(
            fetched[0],
            format=fmt,
            encoding=task.encoding,
            item_path=task.item_path,
            mapping=load_mapping(task.mappings),
            n=n,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    with app.transaction() as conn:
        feed_store.set_last_headers(conn, task.id, result.headers)
    return result


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


# ---------------------------------------------------------------------------------------------- linking
def request_linking(app: Conveyor, supplier: int | str | None = None) -> int:
    """Queue auto-linking of a supplier's items (every supplier's with None); returns the job id."""
    pack = pack_of(app)
    supplier_id = None if supplier is None else find_supplier(app, supplier).id
    return pack.tasks["feeds.link"].enqueue(supplier_id, "manual")


def link(app: Conveyor, supplier_item_id: int, item_id: int) -> ItemLink:
    """Link a supplier item to a catalogue item by hand."""
    with app.transaction() as conn:
        return link_store.link_item(conn, supplier_item_id, item_id)


def unlink(app: Conveyor, supplier_item_id: int) -> bool:
    """Unlink a supplier item by hand; auto-linking leaves it alone from then on."""
    with app.transaction() as conn:
        return link_store.unlink_item(conn, supplier_item_id)


def review(
    app: Conveyor,
    *,
    supplier: int | str | None = None,
    statuses: Sequence[str] = link_store.OPEN_STATUSES,
    after_id: int = 0,
    limit: int = 100,
) -> list[SupplierItem]:
    """Supplier items to review (unmatched and ambiguous by default), a page after ``after_id``."""
    bad = set(statuses) - set(link_store.LINK_STATUSES)
    if bad:
        raise ValueError(f"unknown link status {sorted(bad)} (known: {', '.join(link_store.LINK_STATUSES)})")
    with app.read_transaction() as conn:
        supplier_id = None if supplier is None else feed_store.get_supplier(conn, supplier).id
        return feed_store.list_supplier_items(
            conn, supplier_id=supplier_id, link_status=list(statuses), after_id=after_id, limit=limit
        )


def supplier_items(
    app: Conveyor, *, supplier: int | str | None = None, after_id: int = 0, limit: int = 100
) -> list[SupplierItem]:
    """What suppliers list, by id, a page after ``after_id``."""
    with app.read_transaction() as conn:
        supplier_id = None if supplier is None else feed_store.get_supplier(conn, supplier).id
        return feed_store.list_supplier_items(conn, supplier_id=supplier_id, after_id=after_id, limit=limit)


def link_summary(app: Conveyor, supplier: int | str | None = None) -> dict[str, int]:
    """How many supplier items are linked, unmatched, ambiguous and unlinked."""
    with app.read_transaction() as conn:
        supplier_id = None if supplier is None else feed_store.get_supplier(conn, supplier).id
        return link_store.link_status_counts(conn, supplier_id=supplier_id)
