"""Incremental sync of one Shoptet shop: what changed since a cursor, one order named by a webhook, and the
customers backfill. The tasks in :mod:`.pipelines` call these; everything here runs inside a Conveyor job.

How an incremental run (``orders.fetch_new``, ``products.import_master``) works, and why:

1. **Window.** From the cursor (``orders.change_time``: the newest ``changeTime`` a previous run imported
   completely) or, on the first run, ``now - fallback_lookback_hours``, to now. Shoptet's ``changeTimeFrom``
   is inclusive, so records changed in the cursor's own second are read again and come out ``unchanged``:
   nothing is lost between two runs, and re-reading costs one hash comparison each.
2. **List and details.** The list (50 a page) is read as its records' details are fetched,
   ``detail_concurrency`` at a time (Shoptet allows 3 connections per token; the client's semaphore and
   bucket pacing enforce it), with a few more queued so the connections stay busy while the next list page
   is read and while a chunk is written. The ``changeTime`` of every listed record is kept for step 4.
3. **Import by diff,** :data:`DETAIL_CHUNK` records per transaction: the store compares content hashes and
   writes only what changed; the chunk's record errors, counts and inventory jobs commit with it.
4. **Cursor.** Only when every record of the window was read does the cursor move, to the newest
   ``changeTime`` seen, but never past Shoptet's own clock (the ``Date`` header of the first list page)
   less ``cursor_margin`` seconds: a record that changes while the run reads the list moves onto a page
   already read, and its new ``changeTime`` is after that moment, so the next run reads it, whatever the
   skew between Shoptet's clock and ours. A record that could not be imported (malformed) holds the
   cursor at its own ``changeTime``, so the next run reads it again; after ``park_after_failures`` runs in
   a row it is **parked** (:mod:`conveyor.commerce.store.parked`): listed with its error, no longer holding
   the cursor, and retried by later runs on its own back-off. A run that failed (network, 5xx, rate
   limit) leaves the cursor where it was.
5. **Churn.** When the list keeps shifting while it is paged (records leave the window faster than the
   client can step back), the window is read again as its older half, down to ``min_window_seconds``,
   then the rest: a busy shop still makes progress. A cursor that cannot move says why (the Shops page
   shows it: :func:`get_stall`).

A malformed record is reported in the execution (its code and the reason) and the rest is imported. A 429
that outlasts the client's short wait becomes :class:`~conveyor.Snooze` (waiting costs no attempt); a
rejected token ends the execution as ``error`` and the job is discarded (``conveyor.Discard``) instead of
retried (retrying cannot fix a token). Any other failure ends the execution as ``error`` and raises, so
Conveyor retries that shop's job only.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from hashlib import blake2b
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, select

from conveyor import ConveyorError, Discard, InvalidStateError, JobContext, Snooze, clock, current_job
from conveyor.commerce import store
from conveyor.commerce.shoptet.client import ShoptetClient
from conveyor.commerce.shoptet.errors import AuthenticationError, MalformedResponse, NotFound, RateLimited
from conveyor.commerce.shoptet.models import missing_field
from conveyor.commerce.store import ExecutionNotFoundError, ImportCounts, RecordError, ShopNotFoundError
from conveyor.commerce.store.executions import ExecutionStatus
from conveyor.commerce.store.schema import pipeline_executions, webhook_events

if TYPE_CHECKING:
    from conveyor import Task
    from conveyor.commerce.shoptet.pack import ShoptetPack
    from conveyor.commerce.store import BulkImport, Shop

log = logging.getLogger("conveyor.commerce.shoptet")

CURSOR_ORDERS = "orders.change_time"
CURSOR_PRODUCTS = "products.change_time"
#: Records per import transaction in an incremental run: small enough that a run shows progress and a
#: failure loses little, large enough that the store's per-chunk statements are amortised.
DETAIL_CHUNK = 50
#: Touched variant codes per ``commerce.inventory.refresh_metrics`` job.
INVENTORY_BATCH = 50
#: Detail requests queued beyond the ones in flight, so fetching goes on while a chunk is written.
PREFETCH = 24
#: How many times one run halves a window whose list keeps shifting before it gives up until the next run.
MAX_NARROWINGS = 12

T = TypeVar("T")


class ShopGone(ConveyorError):
    """The shop a job was queued for was deleted before the job ran."""


class Cancelled(Exception):
    """The running job was cancelled; raised between two chunks so the run stops cleanly."""


# ---------------------------------------------------------------------------------------------- jobs
def running_job() -> JobContext | None:
    """The Conveyor job being executed, or None when a pipeline function is called outside a worker."""
    try:
        return current_job()
    except RuntimeError:
        return None


def load_shop(pack: ShoptetPack, shop_id: int) -> Shop:
    """The shop, or :class:`ShopGone` (logged once, clearly) when it was deleted while its job waited."""
    try:
        with pack.app.read_transaction() as conn:
            return store.get_shop(conn, shop_id)
    except ShopNotFoundError:
        job = running_job()
        where = f" (job {job.id}, {job.task})" if job else ""
        log.warning("shop %s no longer exists: nothing to do%s", shop_id, where)
        raise ShopGone(f"shop {shop_id} no longer exists") from None


def gone(exc: ShopGone) -> dict[str, Any]:
    """The result a job stores when its shop was deleted: it ends cleanly, no retry."""
    return {"skipped": str(exc)}


# ---------------------------------------------------------------------------------------------- executions
def open_execution_of_job(conn: Connection, job_id: int) -> tuple[int, str] | None:
    """The newest queued or running execution of a job: (id, status)."""
    e = pipeline_executions
    row = conn.execute(
        select(e.c.id, e.c.status)
        .where(
            e.c.job_id == job_id,
            e.c.status.in_([ExecutionStatus.QUEUED.value, ExecutionStatus.RUNNING.value]),
        )
        .order_by(e.c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else (int(row[0]), str(row[1]))


def enqueue_run(
    conn: Connection,
    task: Task[Any, Any],
    args: Sequence[Any],
    *,
    shop_id: int,
    pipeline: str,
    trigger: str,
    kwargs: Mapping[str, Any] | None = None,
) -> tuple[int, int]:
    """Queue a pipeline job and its ``queued`` execution in the caller's transaction: (execution id, job id).

    Both commit together, so a worker never runs a job whose execution is missing. When the task is unique
    and an identical job already waits, Conveyor returns that job's id: its execution is returned instead of
    recording a second one that no job would ever run."""
    job_id = task.enqueue(*args, connection=conn, **dict(kwargs or {}))
    found = open_execution_of_job(conn, job_id)
    if found is not None:
        return found[0], job_id
    return store.start_execution(conn, shop_id, pipeline, trigger, queued=True, job_id=job_id), job_id


def begin_execution(pack: ShoptetPack, shop_id: int, pipeline: str, trigger: str) -> int:
    """The execution this job attempt runs as, now ``running``.

    Its queued execution when it has one; the running one it left when it snoozed (a rate limit, a snapshot
    still being built) or its worker died; otherwise a new one (a retry after an attempt ended in error, or
    a job queued without one)."""
    job = running_job()
    with pack.app.transaction() as conn:
        if job is not None:
            found = open_execution_of_job(conn, job.id)
            if found is not None:
                execution_id, status = found
                if status == ExecutionStatus.QUEUED.value:
                    store.mark_running(conn, execution_id)
                return execution_id
        return store.start_execution(conn, shop_id, pipeline, trigger, job_id=job.id if job else None)


def fail_execution(pack: ShoptetPack, execution_id: int, error: str) -> None:
    """Finish the execution as ``error``; a no-op (logged) if it is already finished or was deleted."""
    try:
        with pack.app.transaction() as conn:
            store.finish_execution(conn, execution_id, error=error[:4000])
    except (InvalidStateError, ExecutionNotFoundError) as exc:
        log.warning("execution %s: could not record the error %r: %s", execution_id, error, exc)


def handle_failure(pack: ShoptetPack, execution_id: int, exc: BaseException) -> None:
    """What every pipeline does with an error it cannot handle itself, before re-raising it.

    * 429 beyond the client's short wait: ``Snooze`` for as long as Shoptet asked (no attempt spent); the
      execution stays ``running`` and the resumed job carries on with it.
    * A rejected token: execution ``error`` ("authentication failed for shop X: …") and no retry.
    * Anything else: execution ``error``; the caller re-raises, so Conveyor retries this job (this shop) only.
    """
    if isinstance(exc, RateLimited):
        wait = max(1.0, exc.retry_after_seconds)
        log.info("execution %s: %s; snoozing %.0fs", execution_id, exc, wait)
        raise Snooze(wait) from exc
    if isinstance(exc, AuthenticationError):
        fail_execution(pack, execution_id, str(exc))
        raise Discard(str(exc)) from exc  # retrying cannot fix a token: failed for good, one attempt
    fail_execution(pack, execution_id, f"{type(exc).__name__}: {exc}")


# ---------------------------------------------------------------------------------------------- inventory
class VariantHandoff:
    """Hands the variant codes a run touched to ``commerce.inventory.refresh_metrics``, 50 per job.

    Codes are deduplicated over the whole run, and the jobs are enqueued in the transaction that imported
    the records (a transactional outbox): they exist exactly when the import committed."""

    def __init__(self, task: Task[Any, Any], shop_id: int, batch: int = INVENTORY_BATCH) -> None:
        self.task, self.shop_id, self.batch = task, shop_id, batch
        self.sent: set[str] = set()
        self.jobs = 0

    def enqueue(self, conn: Connection, codes: Iterable[str]) -> None:
        new = sorted(set(codes) - self.sent)
        if not new:
            return
        self.sent.update(new)
        specs = [self.task.job(self.shop_id, new[i : i + self.batch]) for i in range(0, len(new), self.batch)]
        self.task.app.enqueue_many(specs, connection=conn)
        self.jobs += len(specs)


# ---------------------------------------------------------------------------------------------- fetching
#: The outcome of fetching one detail: the record, None (deleted since it was listed), or why it is unusable.
Fetched = Any


def fetch_each(
    fetch: Callable[[str], T], keys: Iterable[str], *, concurrency: int, prefetch: int = PREFETCH
) -> Generator[tuple[str, T | MalformedResponse | None], None, None]:
    """``(key, detail)`` for each key, in the keys' order, ``concurrency`` requests at a time.

    Unlike the client's ``fetch_order_details``, one malformed record does not end the iteration: it comes
    out as its :class:`MalformedResponse` (and a deleted one as None), so the caller can report it and
    import the rest. Any other error (network, 5xx after retries, 429, 401) is raised and the queued
    requests are cancelled. Up to ``concurrency + prefetch`` requests are queued, so the threads keep the
    connections busy while the caller writes a chunk to the database."""

    def one(key: str) -> T | MalformedResponse | None:
        try:
            return fetch(key)
        except MalformedResponse as exc:
            return exc
        except NotFound:
            return None

    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="shoptet-detail")
    pending: deque[tuple[str, Future[T | MalformedResponse | None]]] = deque()
    keys_left = iter(keys)
    window = concurrency + prefetch

    def top_up() -> None:
        while len(pending) < window:
            key = next(keys_left, None)
            if key is None:
                return
            pending.append((key, pool.submit(one, key)))

    try:
        top_up()
        while pending:
            key, future = pending.popleft()
            outcome = future.result()
            top_up()
            yield key, outcome
    finally:
        for _, future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


# ---------------------------------------------------------------------------------------------- incremental
@dataclass(frozen=True)
class IncrementalSpec:
    """What differs between the incremental pipelines: endpoints, identity, importer, cursor."""

    pipeline: str
    cursor_key: str
    unit: str  # for progress: "orders", "products"
    kind: str  # for record errors: "order", "product"
    identity: str  # attribute of a list item naming the record: "code", "guid"
    list_changed: Callable[[ShoptetClient, datetime, datetime], Iterable[Any]]
    get_detail: Callable[[ShoptetClient, str], dict[str, Any]]  # as Shoptet sent it: validated once, by the store
    import_records: Callable[[Connection, int, list[Mapping[str, Any]]], BulkImport]
    delete_record: Callable[[Connection, int, str], bool]


ORDERS = IncrementalSpec(
    pipeline="orders.fetch_new",
    cursor_key=CURSOR_ORDERS,
    unit="orders",
    kind="order",
    identity="code",
    list_changed=lambda client, since, until: client.iter_orders(change_time_from=since, change_time_to=until),
    get_detail=lambda client, code: client.get_order_data(code),
    import_records=lambda conn, shop_id, records: store.import_orders(conn, shop_id, records),
    delete_record=store.delete_order,
)
PRODUCTS = IncrementalSpec(
    pipeline="products.import_master",
    cursor_key=CURSOR_PRODUCTS,
    unit="products",
    kind="product",
    identity="guid",
    list_changed=lambda client, since, until: client.iter_products(change_time_from=since, change_time_to=until),
    get_detail=lambda client, guid: client.get_product_data(guid),
    import_records=lambda conn, shop_id, records: store.import_products(conn, shop_id, records),
    delete_record=store.delete_product,
)


def schema_problem(shop: Shop, kind: str, identity: str, key: str, record: dict[str, Any]) -> str | None:
    """Why a detail record is unusable before the store looks at it: a field Shoptet's schema requires is
    missing (the store checks every field it keeps, so this is the only other check a record gets)."""
    name = missing_field(kind, record)
    if name is None:
        return None
    return f"shop {shop.name} {kind}: record {identity} {key} does not match the schema: missing field '{name}'"


def parse_cursor(value: str | None) -> datetime | None:
    """A cursor as stored (ISO 8601 with the shop's offset) → an aware datetime."""
    return None if value is None else datetime.fromisoformat(value)


def run_incremental(pack: ShoptetPack, shop_id: int, spec: IncrementalSpec, trigger: str) -> dict[str, Any]:
    """One incremental run of ``spec`` for one shop (see the module docstring); returns a summary for the job."""
    shop = load_shop(pack, shop_id)
    execution_id = begin_execution(pack, shop.id, spec.pipeline, trigger)
    try:
        return _incremental(pack, shop, spec, execution_id)
    except ShopGone:
        raise
    except Cancelled as stop:
        # The job was cancelled (``conveyor jobs cancel``): what was imported stays, the cursor does not move.
        fail_execution(pack, execution_id, str(stop))
        return {"execution_id": execution_id, "cancelled": str(stop)}
    except BaseException as exc:
        handle_failure(pack, execution_id, exc)
        raise


#: The suffix of the sync-state key that holds a cursor's stall: ``orders.change_time.stalled``.
STALLED = ".stalled"


def stall_key(cursor_key: str) -> str:
    """The sync-state key under which a cursor's stall (why it did not move, since when) is kept."""
    return cursor_key + STALLED


def get_stall(conn: Connection, shop_id: int, cursor_key: str) -> dict[str, Any] | None:
    """``{"reason", "since", "runs"}`` while the cursor is stalled, else None."""
    raw = store.get_cursor(conn, shop_id, stall_key(cursor_key))
    return None if raw is None else dict(json.loads(raw))


def _record_stall(conn: Connection, shop_id: int, cursor_key: str, reason: str | None) -> None:
    if reason is None:
        store.delete_cursor(conn, shop_id, stall_key(cursor_key))
        return
    previous = get_stall(conn, shop_id, cursor_key)
    since = previous["since"] if previous else clock.now()
    runs = previous["runs"] + 1 if previous else 1
    value = json.dumps({"reason": reason, "since": since, "runs": runs})
    store.set_cursor(conn, shop_id, stall_key(cursor_key), value)


def _incremental(pack: ShoptetPack, shop: Shop, spec: IncrementalSpec, execution_id: int) -> dict[str, Any]:
    job = running_job()
    client = pack.client(shop)
    with pack.app.read_transaction() as conn:
        cursor = parse_cursor(store.get_cursor(conn, shop.id, spec.cursor_key))
        tracked = store.tracked_codes(conn, shop.id, spec.kind)
        due = store.due_parked(conn, shop.id, spec.kind)
    until = datetime.now(UTC)
    since = cursor or until - timedelta(hours=pack.fallback_lookback_hours)

    change_times: dict[str, datetime | None] = {}  # every listed record's changeTime, for the cursor
    fetched: dict[str, datetime | None] = {}  # the version of each record fetched in this run
    failures: dict[str, store.Failure] = {}
    handoff = VariantHandoff(pack.inventory_task, shop.id)
    counts = ImportCounts()
    done = 0
    records: list[Mapping[str, Any]] = []
    errors: list[RecordError] = []
    deleted: list[str] = []
    listing: Any = None

    def total() -> int | None:
        return getattr(listing, "total_count", None)

    def failed(key: str, reason: str) -> None:
        moment = change_times.get(key)
        failures[key] = store.Failure(key, reason, moment.isoformat() if moment else None)

    def flush() -> None:
        nonlocal counts, done
        with pack.app.transaction() as conn:
            result = spec.import_records(conn, shop.id, records)
            for key in deleted:
                spec.delete_record(conn, shop.id, key)
            chunk_errors = errors + result.errors
            store.record_errors(conn, execution_id, chunk_errors)
            chunk = result.counts + ImportCounts(read=len(errors), failed=len(errors))
            store.add_counts(conn, execution_id, chunk)
            handoff.enqueue(conn, result.variant_codes)
            rejected = {e.code for e in result.errors}
            imported = {str(r.get(spec.identity)) for r in records} - rejected
            if tracked & (imported | set(deleted)):
                store.resolve(conn, shop.id, spec.kind, tracked & (imported | set(deleted)))
        for error in errors + result.errors:  # rejected by the store's own validation too: hold the cursor
            if error.code:
                failed(error.code, error.reason)
        counts += chunk
        done += len(records) + len(errors) + len(deleted)
        if deleted:
            log.info("shop %s: %d %s no longer exist and were deleted here", shop.name, len(deleted), spec.unit)
        records.clear()
        errors.clear()
        deleted.clear()
        if job is not None:
            job.progress(done, total(), spec.unit)
            if job.cancelled:
                raise Cancelled(f"cancelled after {done} {spec.unit}")

    def read(keys: Iterable[str]) -> None:
        """Fetch and import the details of ``keys``, a chunk per transaction."""
        fetched_each = fetch_each(lambda key: spec.get_detail(client, key), keys, concurrency=pack.detail_concurrency)
        with contextlib.closing(fetched_each):  # an error while writing stops the fetching threads too
            for key, outcome in fetched_each:
                if outcome is None:
                    deleted.append(key)
                elif isinstance(outcome, MalformedResponse):
                    errors.append(RecordError(key, outcome.message, kind=spec.kind))
                elif problem := schema_problem(shop, spec.kind, spec.identity, key, outcome):
                    errors.append(RecordError(key, problem, kind=spec.kind))
                else:
                    records.append(outcome)
                if len(records) + len(errors) + len(deleted) >= DETAIL_CHUNK:
                    flush()
        if records or errors or deleted:
            flush()

    # Windows, oldest first. The first is the whole of [since, until]; one whose list kept shifting while it
    # was paged (churn) is read again as its older half (a window of one page cannot shift), then the rest
    # follows in windows twice as wide, so a busy shop still makes progress. Records already fetched at the
    # same changeTime are not fetched again.
    bound: datetime | None = None  # the cursor never passes this point of Shoptet's clock
    reached: datetime | None = None  # the newest changeTime of the windows read completely
    start, width, narrowed = since, until - since, 0
    stall: str | None = None
    while True:
        end = min(until, start + width)
        listing = spec.list_changed(client, start, end)

        def keys(stream: Any = listing) -> Iterator[str]:
            for item in stream:
                key = str(getattr(item, spec.identity))
                change_times[key] = item.change_time
                if key in fetched and fetched[key] == item.change_time:
                    continue  # read again after a narrowing: this version is imported already
                fetched[key] = item.change_time
                yield key

        read(keys())
        if bound is None:
            # Shoptet's clock when it answered the first page, less a margin: whatever changes after that
            # moment (on a page already read, say) has a later changeTime, so the cursor never passes a record
            # this run did not see, whatever the skew between the two clocks. The margin covers the Date
            # header's 1 s resolution and a change stamped just before the page was read but committed after.
            server = getattr(listing, "server_time", None)
            if server is None:
                log.warning("shop %s: no Date header from Shoptet; bounding the cursor by this clock", shop.name)
            bound = (server or until) - timedelta(seconds=pack.cursor_margin)
        in_window = [t for k, t in change_times.items() if t is not None and start <= t <= end]
        if getattr(listing, "possibly_incomplete", False):
            if width.total_seconds() / 2 >= pack.min_window_seconds and narrowed < MAX_NARROWINGS:
                width, narrowed = width / 2, narrowed + 1
                log.info(
                    "shop %s %s: the list kept changing while it was read; reading %s from %s in windows of %s",
                    shop.name, spec.pipeline, spec.unit, start.isoformat(), width,
                )  # fmt: skip
                continue
            stall = (
                f"the list of {spec.unit} changed while it was read (heavy churn), even in windows of "
                f"{_span(width)}: held at {start.isoformat()}"
            )
            log.warning("shop %s %s: %s", shop.name, spec.pipeline, stall)
            break
        if in_window:
            reached = max([reached, *in_window]) if reached else max(in_window)
        if end >= until:
            break
        start, width = end, width * 2  # widen again: the churn may have been a burst

    extra = [code for code in due if code not in fetched]  # parked records due for a retry
    if extra:
        log.info("shop %s %s: retrying %d parked %s", shop.name, spec.pipeline, len(extra), spec.unit)
        read(extra)

    with pack.app.transaction() as conn:
        statuses = store.note_failures(conn, shop.id, spec.kind, failures.values(), park_after=pack.park_after_failures)
        holding = [
            t for code, status in statuses.items()
            if status is store.ParkedStatus.FAILING and (t := change_times.get(code)) is not None
        ]  # fmt: skip
        new_cursor = reached
        if new_cursor is not None and bound is not None and bound < new_cursor:
            new_cursor = bound.astimezone(new_cursor.tzinfo)  # kept in the shop's offset, as Shoptet sends it
        if holding and new_cursor is not None:
            new_cursor = min(new_cursor, min(holding))
        moved = new_cursor is not None and (cursor is None or new_cursor > cursor)
        if holding and not moved and stall is None:
            stall = (
                f"held at {min(holding).isoformat()} by {len(holding)} {spec.kind}(s) that failed "
                f"({', '.join(sorted(c for c, s in statuses.items() if s is store.ParkedStatus.FAILING)[:5])}); "
                f"parked after {pack.park_after_failures} failed runs in a row"
            )
        if moved and new_cursor is not None:
            store.set_cursor(conn, shop.id, spec.cursor_key, new_cursor.isoformat())
        _record_stall(conn, shop.id, spec.cursor_key, None if moved else stall)
        store.finish_execution(conn, execution_id)
    parked_now = sorted(c for c, s in statuses.items() if s is store.ParkedStatus.PARKED and c not in extra)
    if parked_now:
        log.warning("shop %s %s: parked %s (failed %d runs in a row)", shop.name, spec.pipeline,
                    ", ".join(parked_now), pack.park_after_failures)  # fmt: skip
    log.info("shop %s %s: %d changed since %s", shop.name, spec.pipeline, len(change_times), since.isoformat())
    log.info(
        "shop %s %s: read %d, created %d, updated %d, unchanged %d, failed %d; cursor %s",
        shop.name, spec.pipeline, counts.read, counts.created, counts.updated, counts.unchanged, counts.failed,
        new_cursor.isoformat() if moved and new_cursor else "not moved",
    )  # fmt: skip
    return {
        "execution_id": execution_id,
        "read": counts.read,
        "created": counts.created,
        "updated": counts.updated,
        "unchanged": counts.unchanged,
        "failed": counts.failed,
        "cursor": new_cursor.isoformat() if moved and new_cursor else None,
        "inventory_jobs": handoff.jobs,
        "parked": parked_now,
        "stalled": None if moved else stall,
    }


def _span(width: timedelta) -> str:
    seconds = width.total_seconds()
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.0f} h"


# ---------------------------------------------------------------------------------------------- one order
def fetch_one_order(pack: ShoptetPack, shop_id: int, code: str) -> dict[str, Any]:
    """Fetch and import one order a webhook named (``order:create``/``order:update``/…).

    The webhook carries only the code, so the order is read from the API. An order Shoptet no longer has is
    deleted here; a malformed one is reported in the execution, which still completes (the run worked, the
    record did not). The cursor is left alone: the next incremental run re-reads the order as unchanged."""
    shop = load_shop(pack, shop_id)
    execution_id = begin_execution(pack, shop.id, "orders.fetch_one", "webhook")
    try:
        client = pack.client(shop)
        try:
            detail: Any = client.get_order_data(code)
        except NotFound:
            detail = None
        except MalformedResponse as exc:
            detail = exc
        else:
            if problem := schema_problem(shop, "order", "code", code, detail):
                detail = MalformedResponse(problem, code=code)
        handoff = VariantHandoff(pack.inventory_task, shop.id)
        with pack.app.transaction() as conn:
            if detail is None:
                removed = store.delete_order(conn, shop.id, code)
                counts = ImportCounts(read=1, updated=int(removed), unchanged=int(not removed))
            elif isinstance(detail, MalformedResponse):
                store.record_errors(conn, execution_id, [RecordError(code, detail.message, kind="order")])
                counts = ImportCounts(read=1, failed=1)
            else:
                result = store.import_orders(conn, shop.id, [detail])
                store.record_errors(conn, execution_id, result.errors)
                handoff.enqueue(conn, result.variant_codes)
                counts = result.counts
            store.finish_execution(conn, execution_id, counts=counts)
    except BaseException as exc:
        handle_failure(pack, execution_id, exc)
        raise
    return {"execution_id": execution_id, "code": code, "created": counts.created, "updated": counts.updated,
            "unchanged": counts.unchanged, "failed": counts.failed, "deleted": detail is None}  # fmt: skip


# ---------------------------------------------------------------------------------------------- webhooks seen
def webhook_seen(conn: Connection, shop_id: int, event: str, instance: str) -> bool:
    """True once a webhook ``event`` for ``instance`` was recorded for the shop (e.g. ``job:finished``)."""
    w = webhook_events
    row = conn.execute(
        select(w.c.id).where(w.c.shop_id == shop_id, w.c.event == event, w.c.instance == instance).limit(1)
    ).first()
    return row is not None


def wait_for_webhook(
    pack: ShoptetPack, shop_id: int, event: str, instance: str, *, poll: float = 0.5
) -> Callable[[float], bool]:
    """A ``finished(seconds)`` function for the client's ``wait_for_job``: waits up to ``seconds`` and
    returns True as soon as the webhook is recorded in the database, by whichever process received it."""
    stop = threading.Event()

    def finished(seconds: float) -> bool:
        remaining = seconds
        while True:
            with pack.app.read_transaction() as conn:
                if webhook_seen(conn, shop_id, event, instance):
                    return True
            if remaining <= 0:
                return False
            step = min(poll, remaining)
            stop.wait(step)
            remaining -= step

    return finished


# ---------------------------------------------------------------------------------------------- customers
#: Orders per ``commerce.customers.link_orders`` job of the backfill.
BACKFILL_CHUNK = 250
BACKFILL_PAGE = 2000


def guest_guid(email: str) -> str:
    """The guid of the customer the backfill makes for a guest e-mail: stable, so reruns find it again."""
    return "guest-" + blake2b(email.strip().lower().encode(), digest_size=16).hexdigest()


def backfill_batch_name(shop_id: int, execution_id: int) -> str:
    """The backfill batch's name; the callback reads the execution id back from it."""
    return f"customers.backfill_from_orders shop {shop_id} execution {execution_id}"


def execution_of_batch_name(name: str) -> int | None:
    parts = name.split()
    if len(parts) == 5 and parts[0] == "customers.backfill_from_orders" and parts[3] == "execution":
        return int(parts[4]) if parts[4].isdigit() else None
    return None


def backfill_customers(
    pack: ShoptetPack, shop_id: int, trigger: str, link_task: Task[Any, Any], done_task: Task[Any, Any]
) -> dict[str, Any]:
    """Find the shop's orders without a customer (keyset pages over a partial index) and link them in
    chunked jobs, as one batch whose callback finishes the execution.

    Counts are of orders: ``read`` guest orders found; ``updated`` linked to an existing customer;
    ``created`` linked to a customer made for their e-mail; ``unchanged`` left alone (no e-mail, or linked
    meanwhile)."""
    shop = load_shop(pack, shop_id)
    execution_id = begin_execution(pack, shop.id, "customers.backfill_from_orders", trigger)
    try:
        linkable: list[list[Any]] = []
        without_email = 0
        after = 0
        with pack.app.read_transaction() as conn:
            while page := store.orders_without_customer(conn, shop.id, after_id=after, limit=BACKFILL_PAGE):
                for order in page:
                    if order.email:
                        linkable.append([order.id, order.email])
                    else:
                        without_email += 1
                after = page[-1].id
        with pack.app.transaction() as conn:
            store.add_counts(
                conn,
                execution_id,
                ImportCounts(read=len(linkable) + without_email, unchanged=without_email),
            )
            if not linkable:
                store.finish_execution(conn, execution_id)
        batch_id = None
        if linkable:
            chunks = [linkable[i : i + BACKFILL_CHUNK] for i in range(0, len(linkable), BACKFILL_CHUNK)]
            batch = pack.app.batch(
                [link_task.job(execution_id, shop.id, chunk) for chunk in chunks],
                name=backfill_batch_name(shop.id, execution_id),
                on_complete=done_task,
                on_failure=done_task,
            )
            batch_id = batch.id
    except BaseException as exc:
        handle_failure(pack, execution_id, exc)
        raise
    log.info(
        "shop %s: %d guest orders to link (batch %s), %d without an e-mail",
        shop.name, len(linkable), batch_id, without_email,
    )  # fmt: skip
    return {"execution_id": execution_id, "orders": len(linkable), "without_email": without_email, "batch": batch_id}


def link_guest_orders(pack: ShoptetPack, execution_id: int, shop_id: int, orders: list[list[Any]]) -> dict[str, int]:
    """Link a chunk of guest orders (``[order id, e-mail]``) to the customer with their e-mail, creating a
    customer (guid :func:`guest_guid`) for an e-mail no customer has. One transaction per chunk."""
    emails = {str(email).strip().lower() for _, email in orders}
    counts = ImportCounts()
    with pack.app.transaction() as conn:
        found = store.customer_ids_by_email(conn, shop_id, emails)
        missing = sorted(emails - set(found))
        if missing:
            guests = [
                {"guid": guest_guid(email), "accounts": [{"email": email, "mainAccount": True}]} for email in missing
            ]
            result = store.import_customers(conn, shop_id, guests)
            store.record_errors(conn, execution_id, result.errors)
        made = store.customer_ids_by_email(conn, shop_id, missing) if missing else {}
        for order_id, email in orders:
            key = str(email).strip().lower()
            customer_id = found.get(key) or made.get(key)
            linked = customer_id is not None and store.link_customer(conn, int(order_id), customer_id)
            if not linked:
                counts.unchanged += 1
            elif key in found:
                counts.updated += 1
            else:
                counts.created += 1
        store.add_counts(conn, execution_id, counts)
    return {"linked": counts.updated + counts.created, "unchanged": counts.unchanged}


def finish_backfill(pack: ShoptetPack, batch_id: int) -> dict[str, Any]:
    """The batch callback: finish the backfill's execution, ``error`` if some chunk jobs failed for good."""
    batch = pack.app.get_batch(batch_id)
    execution_id = execution_of_batch_name(batch.name)
    if execution_id is None:
        log.warning("batch %s (%r) is not a customers backfill: nothing to finish", batch_id, batch.name)
        return {"skipped": f"batch {batch_id} is not a customers backfill"}
    error = None
    if batch.failed or batch.cancelled:
        error = (
            f"{batch.failed} of {batch.total} link jobs failed and {batch.cancelled} were cancelled (batch {batch_id})"
        )
    try:
        with pack.app.transaction() as conn:
            store.finish_execution(conn, execution_id, error=error)
    except (InvalidStateError, ExecutionNotFoundError) as exc:
        log.warning("customers backfill batch %s: %s", batch_id, exc)
    return {"execution_id": execution_id, "error": error}
