"""One import run of a feed's import task, from the download to the zeroing of what the feed no longer lists.

The steps, and why each is the way it is:

1. **Download** with a conditional GET (the task's ETag / Last-Modified from its last complete run): 304 ends
   the run as ``unchanged`` at once. Content whose SHA-256 equals the last complete run's ends it as
   ``identical`` (a feed served without validators): nothing is parsed, nothing written.
2. **Open and check**: the file's columns are stored as the task's ``last_headers`` (the mapping editor
   shows them, even when the mapping is wrong), then the mapping is checked against them: a missing column
   fails the run before a row is read.
3. **Parse the whole file first**, mapping every row and writing the mapped rows to a spool file next to the
   download (``{data_dir}/feeds/runs/{execution}/rows.jsonl``), storing bad rows with their line and reason as
   it goes. Memory stays flat (one row at a time; duplicates are found with a set of 64-bit hashes of the
   codes). Why parse before writing anything: a feed that turns out broken half-way (a truncated gzip, a
   byte that does not decode, an XML document that ends early, a 10 MB line) fails the run with **no supplier
   item changed at all**, not half of them.
4. **Chunk jobs**: one job per :attr:`~.pack.FeedsPack.chunk_size` mapped rows on queue ``import``, created
   together as one Conveyor batch (its counts are the run's progress). Each chunk upserts its rows in one
   transaction (content hash → created / updated / unchanged; every listed item marked seen by this run) and
   adds its counts to the execution.
5. **Finish** (the batch's callback, exactly once): when every chunk completed, the task's items this run
   did not list get stock 0 (``zeroed``), the validators and SHA-256 are saved (so the next run can skip
   unchanged content), the execution completes, and a linking job is queued. When a chunk failed for good
   (after its retries), the run ends as ``error``: nothing is zeroed and the validators are not saved, so
   the next run imports the same content again.

Duplicate supplier codes within a run: every row but the last with that code is reported as a row error and
skipped; the last one wins (the spool's ``dups.json`` tells each chunk which line wins).

``--limit N`` imports the first N data rows and never zeroes or saves validators (it is a test of the task);
``--dry-run`` stops after step 3: rows are parsed and mapped, bad rows reported, counts shown, and no
supplier item is written.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor import ConfigurationError, ConveyorError, InvalidStateError, JobContext, current_job
from conveyor.commerce import store
from conveyor.commerce.feeds.errors import FeedDownloadError, FeedError, FeedFormatError, FeedNotFoundError, RowError
from conveyor.commerce.store import ExecutionNotFoundError, ImportCounts
from conveyor.commerce.store import feeds as feed_store
from conveyor.commerce.store.executions import ExecutionStatus
from conveyor.commerce.store.feeds import FeedTask, SupplierOffer
from conveyor.commerce.store.schema import CODE_LENGTH

if TYPE_CHECKING:
    from conveyor.commerce.feeds.pack import FeedsPack
    from conveyor.commerce.feeds.parsing import MappedRow

log = logging.getLogger("conveyor.commerce.feeds")

PIPELINE = "feeds.import"
#: Bad rows stored per transaction while parsing.
ERROR_FLUSH = 500
#: Row errors stored per run at most; beyond it only counted (a feed that is all errors would flood the log).
MAX_STORED_ERRORS = 10_000


class Cancelled(Exception):
    """The run's job was cancelled while it parsed."""


def running_job() -> JobContext | None:
    try:
        return current_job()
    except RuntimeError:
        return None


def batch_name(execution_id: int) -> str:
    """The chunk batch's name; the finish callback reads the execution id back from it."""
    return f"feeds.import execution {execution_id}"


def execution_of_batch(name: str) -> int | None:
    parts = name.split()
    if len(parts) == 3 and parts[0] == "feeds.import" and parts[1] == "execution" and parts[2].isdigit():
        return int(parts[2])
    return None


# ---------------------------------------------------------------------------------------------- the run job
@dataclass
class _Context:
    execution_id: int
    task: FeedTask
    supplier_id: int
    row_limit: int | None
    dry_run: bool


def run_import(pack: FeedsPack, execution_id: int) -> dict[str, Any]:
    """The run job: download, check, parse into the spool, dispatch the chunk batch (or finish at once)."""
    ctx = _begin(pack, execution_id)
    if ctx is None:
        return {"execution_id": execution_id, "skipped": "the run is no longer queued or running"}
    try:
        return _run(pack, ctx)
    except FeedError as exc:
        _fail(pack, execution_id, str(exc))
        log.warning("feed task %s: run %s failed: %s", ctx.task.id, execution_id, exc)
        return {"execution_id": execution_id, "error": str(exc)}
    except Cancelled as exc:
        _fail(pack, execution_id, str(exc))
        return {"execution_id": execution_id, "cancelled": str(exc)}
    except BaseException as exc:
        _fail(pack, execution_id, f"{type(exc).__name__}: {exc}")
        raise


def _begin(pack: FeedsPack, execution_id: int) -> _Context | None:
    job = running_job()
    with pack.app.transaction() as conn:
        try:
            execution = store.get_execution(conn, execution_id)
        except ExecutionNotFoundError:
            log.warning("feed run %s no longer exists: nothing to do", execution_id)
            return None
        if execution.status is ExecutionStatus.QUEUED:
            store.mark_running(conn, execution_id, job_id=job.id if job else None)
        elif execution.status is not ExecutionStatus.RUNNING:
            return None
        run = feed_store.get_feed_run(conn, execution_id)
        task = feed_store.get_feed_task(conn, run.feed_task_id)
        feed = feed_store.get_feed(conn, task.feed_id)
        return _Context(execution_id, task, feed.supplier_id, run.row_limit, run.dry_run)


def _fail(pack: FeedsPack, execution_id: int, error: str) -> None:
    """End the run as ``error`` (a no-op, logged, if it already ended)."""
    try:
        with pack.app.transaction() as conn:
            feed_store.update_feed_run(conn, execution_id, outcome="failed")
            store.finish_execution(conn, execution_id, error=error[:4000])
    except (InvalidStateError, ExecutionNotFoundError) as exc:
        log.warning("feed run %s: could not record the error %r: %s", execution_id, error, exc)
    shutil.rmtree(pack.spool_dir(execution_id), ignore_errors=True)


def _finish_early(pack: FeedsPack, ctx: _Context, outcome: str, details: dict[str, Any] | None = None) -> None:
    with pack.app.transaction() as conn:
        values: dict[str, Any] = {"outcome": outcome}
        if details is not None:
            values["details"] = details
        feed_store.update_feed_run(conn, ctx.execution_id, **values)
        store.finish_execution(conn, ctx.execution_id)


def _run(pack: FeedsPack, ctx: _Context) -> dict[str, Any]:
    from conveyor.commerce.feeds.parsing import check_columns, load_mapping, open_feed

    full = ctx.row_limit is None and not ctx.dry_run
    task = ctx.task
    mapping = load_mapping(task.mappings)
    download = fetch(pack, task, conditional=full)
    if download is None:
        _finish_early(pack, ctx, "unchanged")
        log.info("feed task %s: unchanged since the last run (HTTP 304): skipped", task.id)
        return {"execution_id": ctx.execution_id, "outcome": "unchanged"}
    path, sha256, size, etag, last_modified = download
    with pack.app.transaction() as conn:
        feed_store.update_feed_run(
            conn, ctx.execution_id, path=str(path), sha256=sha256, size=size, etag=etag, last_modified=last_modified
        )
    if full and task.last_sha256 is not None and sha256 == task.last_sha256:
        path.unlink(missing_ok=True)
        _finish_early(pack, ctx, "identical")
        with pack.app.transaction() as conn:  # the same content under new validators: remember them
            feed_store.save_validators(conn, task.id, etag=etag, last_modified=last_modified, sha256=sha256)
        log.info("feed task %s: same content as the last run (SHA-256): nothing to write", task.id)
        return {"execution_id": ctx.execution_id, "outcome": "identical"}

    fmt: Any = task.format
    with open_feed(path, format=fmt, encoding=task.encoding, item_path=task.item_path) as feed:
        with pack.app.transaction() as conn:
            feed_store.set_last_headers(conn, task.id, feed.headers)
        check_columns(mapping, feed.headers)
        spool = _Spool(pack, ctx)
        try:
            stats = spool.fill(mapping, feed.rows(limit=ctx.row_limit))
        except BaseException:
            spool.discard()
            raise
        details = {
            "feed": feed.describe(),
            "format": feed.format,
            "encoding": feed.encoding,
            "compression": feed.compression,
            "columns": len(feed.headers),
            **stats,
        }
    path.unlink(missing_ok=True)  # the spool holds what the chunks need; a failed run keeps its download
    if stats["rows"] == 0 and stats["errors"] == 0:
        spool.discard()
        raise FeedFormatError(
            "the feed lists no items: nothing imported and nothing zeroed (an empty export is more likely a "
            "fault at the supplier than an empty warehouse)"
        )
    if ctx.dry_run:
        spool.discard()
        with pack.app.transaction() as conn:  # rows a real run would have written, as read (and nothing else)
            store.add_counts(conn, ctx.execution_id, ImportCounts(read=stats["mapped"]))
        _finish_early(pack, ctx, "dry_run", details)
        return {"execution_id": ctx.execution_id, "outcome": "dry_run", **stats}
    chunks = spool.chunks
    if not chunks:  # every row was bad: nothing to upsert, nothing listed, so nothing may be zeroed either
        spool.discard()
        _fail(pack, ctx.execution_id, f"no row of the feed could be imported ({stats['errors']} bad rows: see them)")
        return {"execution_id": ctx.execution_id, "outcome": "failed", **stats}
    chunk_task = pack.tasks["feeds.import.chunk"]
    with pack.app.transaction() as conn:
        feed_store.update_feed_run(conn, ctx.execution_id, chunks=len(chunks), details=details)
    batch = pack.app.batch(
        [chunk_task.job(ctx.execution_id, n, offset, count) for n, (offset, count) in enumerate(chunks)],
        name=batch_name(ctx.execution_id),
        on_complete=pack.tasks["feeds.import.finish"],
        on_failure=pack.tasks["feeds.import.finish"],
    )
    with pack.app.transaction() as conn:
        feed_store.update_feed_run(conn, ctx.execution_id, batch_id=str(batch.id))
    log.info(
        "feed task %s: run %s parsed %d rows (%d bad) into %d chunks (batch %s)",
        task.id, ctx.execution_id, stats["rows"], stats["errors"], len(chunks), batch.id,
    )  # fmt: skip
    return {"execution_id": ctx.execution_id, "batch": batch.id, "chunks": len(chunks), **stats}


def fetch(
    pack: FeedsPack, task: FeedTask, *, conditional: bool, dest: Path | None = None
) -> tuple[Path, str, int, str | None, str | None] | None:
    """Download the task's source into ``dest`` (default: its downloads directory): (path, sha256, size,
    etag, last_modified), or None when the server says it is unchanged (only asked with ``conditional``)."""
    from conveyor.commerce.feeds import client

    auth: Any = None
    headers: dict[str, str] = {}
    if task.has_auth:
        with pack.app.read_transaction() as conn:
            creds = feed_store.feed_task_auth(conn, pack.cipher, task.id) or {}
        if "user" in creds:
            auth = (str(creds["user"]), str(creds["password"]))
        elif "header" in creds:
            headers[str(creds["header"])] = str(creds["value"])
    previous = None
    if conditional and (task.etag or task.last_modified):
        previous = client.Validators(etag=task.etag, last_modified=task.last_modified)
    dest = dest or pack.downloads_dir(task.id)
    dest.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {"previous": previous, "auth": auth, "headers": headers, "timeout": pack.download_timeout}
    if pack.max_bytes is not None:
        options["max_bytes"] = pack.max_bytes
    try:  # again at download: the row may have been written by other means, or the roots changed
        source = pack.check_source(task.source)
    except ConfigurationError as exc:
        raise FeedDownloadError(str(exc)) from None
    result = client.download(source, dest, **options)
    if result.unchanged:
        return None
    assert result.path is not None and result.sha256 is not None
    return Path(result.path), result.sha256, int(result.size or 0), result.etag, result.last_modified


# ---------------------------------------------------------------------------------------------- the spool
def _offer_row(row: MappedRow, code: str) -> list[Any]:
    return [
        row.line,
        code,
        row.sku,
        row.ean,
        row.name,
        row.manufacturer_code,
        row.quantity,
        row.in_stock,
        row.delivery_days,
        None if row.purchase_price is None else str(row.purchase_price),
    ]


def offer_of(values: list[Any]) -> SupplierOffer:
    """A spooled row as the store's :class:`SupplierOffer`."""
    _, code, sku, ean, name, mcode, quantity, in_stock, days, price = values
    return SupplierOffer(
        supplier_code=code,
        sku=sku,
        ean=ean,
        name=name,
        manufacturer_code=mcode,
        stock_quantity=None if quantity is None else Decimal(quantity),
        in_stock=in_stock,
        delivery_days=days,
        purchase_price=None if price is None else Decimal(price),
    )


#: One encoder for every spooled row (``json.dumps`` with options builds a new one per call: ~2 s per million).
_spool_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class _Spool:
    """The run's mapped rows on disk, with the byte offset of every chunk, and the row errors stored."""

    def __init__(self, pack: FeedsPack, ctx: _Context) -> None:
        self.pack, self.ctx = pack, ctx
        self.dir = pack.spool_dir(ctx.execution_id)
        self.chunks: list[tuple[int, int]] = []
        self._errors: list[tuple[int | None, str | None, str]] = []
        self._stored_errors = 0
        self._pending_errors = 0
        self._pending_failed = 0

    def discard(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def fill(self, mapping: Any, rows: Iterator[Any]) -> dict[str, Any]:
        from conveyor.commerce.feeds.parsing import map_rows

        shutil.rmtree(self.dir, ignore_errors=True)  # a retried run starts over
        self.dir.mkdir(parents=True, exist_ok=True)
        job = running_job()
        seen: set[int] = set()
        dups: dict[str, int] = {}
        mapped = errors = warnings = 0
        size = self.pack.chunk_size
        today = datetime.fromtimestamp(store_now(), UTC).date()
        with (self.dir / "rows.jsonl").open("wb") as out:
            in_chunk = 0
            chunk_start = 0
            for result in map_rows(mapping, rows, today=today):
                if isinstance(result, RowError):
                    errors += 1
                    self._error(result.line, result.code, result.reason, failed=True)
                    continue
                code = result.sku or result.ean
                if code is None:  # the mapping guarantees one of them; defensive
                    errors += 1
                    self._error(result.line, None, "the row has neither a SKU nor an EAN", failed=True)
                    continue
                if len(code) > CODE_LENGTH:
                    errors += 1
                    self._error(
                        result.line,
                        code[:60] + "…",
                        f"the supplier code is longer than {CODE_LENGTH} characters",
                        failed=True,
                    )
                    continue
                for warning in result.warnings:
                    warnings += 1
                    self._error(warning.line, warning.code, warning.reason)
                key = hash(code)
                if key in seen:
                    dups[code] = result.line
                else:
                    seen.add(key)
                line = _spool_json(_offer_row(result, code)).encode()
                out.write(line + b"\n")
                mapped += 1
                in_chunk += 1
                if in_chunk == size:
                    self.chunks.append((chunk_start, in_chunk))
                    chunk_start, in_chunk = out.tell(), 0
                    if job is not None:
                        job.progress(mapped + errors, None, "rows read")
                        if job.cancelled:
                            raise Cancelled(f"cancelled after {mapped + errors} rows")
                if self._pending_errors >= ERROR_FLUSH:
                    self._flush_errors()
            if in_chunk:
                self.chunks.append((chunk_start, in_chunk))
        # A code whose hash equals another's by chance (1 in 2^64 per pair) gets a needless dups.json entry
        # naming its own line: it is never skipped.
        if dups:
            (self.dir / "dups.json").write_text(json.dumps(dups, ensure_ascii=False))
        self._flush_errors()
        if job is not None:
            job.progress(mapped + errors, mapped + errors, "rows read")
        return {
            "rows": mapped + errors,
            "mapped": mapped,
            "errors": errors,
            "warnings": warnings,
            "duplicate_codes": len(dups),
        }

    def _error(self, line: int | None, code: str | None, reason: str, *, failed: bool = False) -> None:
        """Keep a row error to store; ``failed`` rows count as read and failed (a warning's row imports)."""
        self._pending_errors += 1
        self._pending_failed += failed
        if self._stored_errors + len(self._errors) < MAX_STORED_ERRORS:
            self._errors.append((line, code, reason))

    def _flush_errors(self) -> None:
        if not self._pending_errors:
            return
        n = self._pending_failed
        with self.pack.app.transaction() as conn:
            self._stored_errors += feed_store.record_row_errors(conn, self.ctx.execution_id, self._errors)
            if n:
                store.add_counts(conn, self.ctx.execution_id, ImportCounts(read=n, failed=n))
        self._errors.clear()
        self._pending_errors = self._pending_failed = 0


def store_now() -> float:
    from conveyor import clock

    return clock.now()


# ---------------------------------------------------------------------------------------------- chunk jobs
def import_chunk(pack: FeedsPack, execution_id: int, index: int, offset: int, count: int) -> dict[str, Any]:
    """One chunk job: read its rows from the spool, drop the duplicates a later line overrides, upsert the
    rest in one transaction with the counts and the duplicates' row errors."""
    with pack.app.read_transaction() as conn:
        status, supplier_id, task_id = feed_store.chunk_context(conn, execution_id)
    if status != ExecutionStatus.RUNNING.value:
        return {"skipped": f"run {execution_id} is {status}"}
    spool = pack.spool_dir(execution_id)
    rows: list[list[Any]] = []
    try:
        with (spool / "rows.jsonl").open("rb") as stream:
            stream.seek(offset)
            for _ in range(count):
                rows.append(json.loads(stream.readline()))
    except FileNotFoundError:
        raise FeedNotFoundError(
            f"the rows of run {execution_id} are gone from {spool} (the data directory must be shared by every "
            "worker of the import queue)"
        ) from None
    dups_file = spool / "dups.json"
    winners: dict[str, int] = json.loads(dups_file.read_text()) if dups_file.exists() else {}
    offers: dict[str, SupplierOffer] = {}
    skipped: list[tuple[int | None, str | None, str]] = []
    for values in rows:
        line, code = int(values[0]), str(values[1])
        win = winners.get(code)
        if win is not None and win != line:
            skipped.append((line, code, f"duplicate supplier code {code!r}: line {win} lists it again and wins"))
            continue
        offers[code] = offer_of(values)
    with pack.app.transaction() as conn:
        counts = feed_store.upsert_supplier_items(conn, supplier_id, task_id, execution_id, list(offers.values()))
        if skipped:
            feed_store.record_row_errors(conn, execution_id, skipped)
            counts += ImportCounts(read=len(skipped), failed=len(skipped))
        store.add_counts(conn, execution_id, counts)
        feed_store.chunk_done(conn, execution_id)
    return {"chunk": index, "created": counts.created, "updated": counts.updated, "unchanged": counts.unchanged}


def mark_errored_rows_seen(pack: FeedsPack, execution_id: int, supplier_id: int, task_id: int) -> None:
    """Items whose row was bad this run are still listed by the feed: they keep their last values."""
    from sqlalchemy import select

    from conveyor.commerce.store.schema import execution_errors

    after = 0
    while True:
        with pack.app.transaction() as conn:
            rows = conn.execute(
                select(execution_errors.c.id, execution_errors.c.record_code)
                .where(execution_errors.c.execution_id == execution_id, execution_errors.c.id > after)
                .order_by(execution_errors.c.id)
                .limit(5000)
            ).all()
            if not rows:
                return
            feed_store.mark_seen(conn, supplier_id, task_id, execution_id, [r[1] for r in rows if r[1]])
        after = int(rows[-1][0])


# ---------------------------------------------------------------------------------------------- finish
def finish_run(pack: FeedsPack, batch_id: int) -> dict[str, Any]:
    """The chunk batch's callback: complete the run (zero what the feed no longer lists, save validators,
    queue linking) when every chunk completed, or end it as ``error`` without zeroing."""
    batch = pack.app.get_batch(batch_id)
    execution_id = execution_of_batch(batch.name)
    if execution_id is None:
        log.warning("batch %s (%r) is not a feed import: nothing to finish", batch_id, batch.name)
        return {"skipped": f"batch {batch_id} is not a feed import"}
    with pack.app.read_transaction() as conn:
        run = feed_store.get_feed_run(conn, execution_id)
        task = feed_store.get_feed_task(conn, run.feed_task_id)
        supplier_id = feed_store.get_feed(conn, task.feed_id).supplier_id
    if batch.failed or batch.cancelled:
        error = (
            f"{batch.failed} of {batch.total} chunk jobs failed and {batch.cancelled} were cancelled (batch "
            f"{batch_id}): nothing was zeroed and the feed's validators were not saved, so the next run imports "
            "the same content again"
        )
        _fail(pack, execution_id, error)
        return {"execution_id": execution_id, "error": error}
    full = run.row_limit is None and not run.dry_run
    zeroed = 0
    try:
        if full:
            mark_errored_rows_seen(pack, execution_id, supplier_id, task.id)
        with pack.app.transaction() as conn:
            if full:
                zeroed = feed_store.zero_unseen(conn, task.id, execution_id)
                feed_store.save_validators(
                    conn, task.id, etag=run.etag, last_modified=run.last_modified, sha256=run.sha256
                )
            feed_store.update_feed_run(conn, execution_id, outcome="imported", zeroed=zeroed)
            store.finish_execution(conn, execution_id)
            pack.tasks["feeds.link"].enqueue(supplier_id, "import", connection=conn)
    except (InvalidStateError, ExecutionNotFoundError) as exc:
        log.warning("feed run %s: %s", execution_id, exc)
        return {"execution_id": execution_id, "skipped": str(exc)}
    shutil.rmtree(pack.spool_dir(execution_id), ignore_errors=True)
    log.info("feed task %s: run %s imported, %d items zeroed", task.id, execution_id, zeroed)
    return {"execution_id": execution_id, "zeroed": zeroed}


def heal_stale_run(pack: FeedsPack, execution_id: int) -> bool:
    """End a run whose jobs are all gone without ending it (a cancelled batch, a job deleted by hand), so a
    new run of its task can start. Returns whether it was ended."""
    from conveyor import JobNotFoundError

    with pack.app.read_transaction() as conn:
        execution = store.get_execution(conn, execution_id)
        run = feed_store.get_feed_run(conn, execution_id)
    if run.batch_id is not None:
        try:
            if pack.app.get_batch(int(run.batch_id)).state == "running":
                return False
        except ConveyorError:
            pass
        reason = "its chunk batch ended without finishing it (cancelled?)"
    else:
        if execution.job_id is None:
            return False
        try:
            job = pack.app.get_job(execution.job_id)
        except JobNotFoundError:
            job = None
        if job is not None and job.state.value in ("available", "scheduled", "executing", "retryable"):
            return False
        reason = "its job ended without finishing it"
    _fail(pack, execution_id, f"run {execution_id} was abandoned: {reason}")
    return True
