"""Manual snapshots: Shoptet's asynchronous full export of a shop's orders, products or customers.

The flow, and why each step is the way it is:

1. **Request** (``GET /api/orders/snapshot``): Shoptet answers 202 with a ``jobId`` and builds a gzipped JSON
   Lines file in the background. The job id is kept in the cursor ``snapshot.{kind}.pending`` with the
   polls spent on it, so a job that snoozes while Shoptet works resumes waiting for the *same* export.
2. **Wait**, gently: Shoptet refuses the 11th detail request of an unfinished job, so a run polls at most
   8 times with growing pauses and the whole wait spends at most 9. The ``job:finished`` webhook, recorded
   by whichever process receives it, ends a pause at once. When the polls are spent the job snoozes (no
   attempt used) until the webhook arrives, and gives up after :data:`GIVE_UP_AFTER`.
3. **Download** to ``{data_dir}/shoptet/{shop_id}/{kind}-{jobId}.jsonl.gz`` (streamed, hashed on the way);
   path, SHA-256 and size are recorded in ``commerce_snapshot_files``.
4. **Verify the whole file, then import.** A truncated download is refused before a single record is
   written (the file is kept, marked ``failed``, for inspection). Records are then streamed
   :data:`IMPORT_CHUNK` per transaction, with progress on the job and counts on the execution; a malformed
   line is reported with its line number, code and reason, and the rest is imported.

A failed snapshot is retried with :func:`~conveyor.commerce.shoptet.pipelines.retry_snapshot`: from the same
file when its checksum still matches and it reads to the end, otherwise by downloading the result again
(or requesting a new export once Shoptet no longer has it).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import logging
import time
from collections.abc import Callable, Generator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection

from conveyor import Snooze
from conveyor.commerce import store
from conveyor.commerce.shoptet.client import JOB_POLL_LIMIT
from conveyor.commerce.shoptet.errors import JobNotFinished, NotFound, ShoptetError, SnapshotCorruptError
from conveyor.commerce.shoptet.models import missing_field
from conveyor.commerce.shoptet.snapshot_files import SnapshotLineError, iter_snapshot_lines, verify_snapshot
from conveyor.commerce.shoptet.sync import (
    Cancelled,
    ShopGone,
    VariantHandoff,
    begin_execution,
    fail_execution,
    handle_failure,
    load_shop,
    running_job,
    wait_for_webhook,
)
from conveyor.commerce.store import ImportCounts, RecordError, SnapshotFile, SnapshotStatus

if TYPE_CHECKING:
    from conveyor.commerce.shoptet.client import ShoptetClient
    from conveyor.commerce.shoptet.pack import ShoptetPack
    from conveyor.commerce.store import BulkImport, Shop

log = logging.getLogger("conveyor.commerce.shoptet")

SNAPSHOT_KINDS = ("orders", "products", "customers")
#: Records per import transaction: the store's own chunk size, so a chunk is one round of its statements.
IMPORT_CHUNK = 500
#: Polls one run may spend; the whole wait spends at most JOB_POLL_LIMIT - 1 (one spare for a last look).
POLLS_PER_RUN = 8
#: How long a job whose polls are spent sleeps before looking for the job:finished webhook again.
SNOOZE_WHILE_BUILDING = 60.0
#: A snapshot Shoptet has not finished after this long is given up (its result would be hours old anyway).
GIVE_UP_AFTER = 6 * 3600.0

_IMPORTERS: Mapping[str, Callable[[Connection, int, list[Mapping[str, Any]]], BulkImport]] = {
    "orders": lambda conn, shop_id, records: store.import_orders(conn, shop_id, records, chunk_size=IMPORT_CHUNK),
    "products": lambda conn, shop_id, records: store.import_products(conn, shop_id, records, chunk_size=IMPORT_CHUNK),
    "customers": lambda conn, shop_id, records: store.import_customers(conn, shop_id, records, chunk_size=IMPORT_CHUNK),
}
_SINGULAR = {"orders": "order", "products": "product", "customers": "customer"}


class SnapshotTimeout(ShoptetError):
    """Shoptet did not finish building a snapshot within :data:`GIVE_UP_AFTER`."""


def pipeline_name(kind: str) -> str:
    """The executions' pipeline name of a snapshot kind: ``snapshot.orders``."""
    return f"snapshot.{kind}"


def pending_key(kind: str) -> str:
    """The cursor that remembers the export Shoptet is building for a waiting snapshot job."""
    return f"snapshot.{kind}.pending"


def snapshot_path(data_dir: Path, shop_id: int, kind: str, remote_job_id: str) -> Path:
    """Where a downloaded snapshot lives: ``{data_dir}/shoptet/{shop_id}/{kind}-{jobId}.jsonl.gz``."""
    return data_dir / "shoptet" / str(shop_id) / f"{kind}-{remote_job_id}.jsonl.gz"


def file_problem(file: SnapshotFile) -> str | None:
    """Why a recorded file cannot be imported again as it is (None: it can): missing, changed since it was
    downloaded (checksum), or damaged (it does not decompress to its end)."""
    path = Path(file.path)
    if not path.is_file():
        return f"{path} is missing"
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    if digest.hexdigest() != file.sha256:
        return f"{path} changed since it was downloaded (checksum mismatch)"
    try:
        verify_snapshot(path)
    except SnapshotCorruptError as exc:
        return str(exc)
    return None


def count_lines(path: Path) -> int:
    """Lines of a verified snapshot (one record each), for the progress total. One more decompression pass:
    cheap next to importing, and it lets the progress bar show an ETA."""
    lines = 0
    with gzip.open(path, "rb") as stream:
        while block := stream.read(1 << 20):
            lines += block.count(b"\n")
    return lines


# ---------------------------------------------------------------------------------------------- the task
def run_snapshot(pack: ShoptetPack, shop_id: int, kind: str, trigger: str, file_id: int | None) -> dict[str, Any]:
    """One snapshot job: obtain the file (re-use, download again, or request), verify it, import it."""
    if kind not in SNAPSHOT_KINDS:
        raise ValueError(f"unknown snapshot kind {kind!r} (known: {', '.join(SNAPSHOT_KINDS)})")
    shop = load_shop(pack, shop_id)
    execution_id = begin_execution(pack, shop.id, pipeline_name(kind), trigger)
    try:
        file = _obtain_file(pack, shop, kind, execution_id, file_id)
        return _import_file(pack, shop, kind, execution_id, file)
    except (ShopGone, Snooze):
        raise
    except BaseException as exc:
        handle_failure(pack, execution_id, exc)
        raise


def _obtain_file(pack: ShoptetPack, shop: Shop, kind: str, execution_id: int, file_id: int | None) -> SnapshotFile:
    client = pack.client(shop)
    if file_id is not None:
        with pack.app.read_transaction() as conn:
            previous = store.get_snapshot_file(conn, file_id)
        problem = file_problem(previous)
        if problem is None:
            log.info("shop %s: importing %s again from %s (checksum matches)", shop.name, kind, previous.path)
            with pack.app.transaction() as conn:
                return _record(conn, shop, kind, execution_id, previous.remote_job_id, Path(previous.path),
                               previous.sha256, previous.size)  # fmt: skip
        log.info("shop %s: %s; downloading it again", shop.name, problem)
        if previous.remote_job_id:
            try:
                job = client.get_job(previous.remote_job_id)
            except NotFound:
                job = None
            if job is not None and job.succeeded and job.result_url:
                return _download(pack, client, shop, kind, execution_id, previous.remote_job_id, job.result_url)
            log.info(
                "shop %s: Shoptet no longer has export %s: requesting a new one", shop.name, previous.remote_job_id
            )
    return _request_and_download(pack, client, shop, kind, execution_id)


def _request_and_download(
    pack: ShoptetPack, client: ShoptetClient, shop: Shop, kind: str, execution_id: int
) -> SnapshotFile:
    key = pending_key(kind)
    with pack.app.read_transaction() as conn:
        raw = store.get_cursor(conn, shop.id, key)
    pending = json.loads(raw) if raw else None
    if pending is None or pending.get("execution_id") != execution_id:
        remote = client.request_snapshot(kind)
        pending = {"execution_id": execution_id, "job_id": remote, "polls": 0, "requested_at": time.time()}
        _save_pending(pack, shop.id, key, pending)
    remote = str(pending["job_id"])
    finished = wait_for_webhook(pack, shop.id, "job:finished", remote)
    budget = min(POLLS_PER_RUN, JOB_POLL_LIMIT - 1 - int(pending["polls"]))
    if budget <= 0:
        # Polls spent: only the webhook may say it is done; then one last look is allowed.
        if not finished(0):
            if time.time() - float(pending["requested_at"]) > GIVE_UP_AFTER:
                raise SnapshotTimeout(
                    f"shop {shop.name}: Shoptet has not finished the {kind} export {remote} after "
                    f"{GIVE_UP_AFTER / 3600:.0f} h (no job:finished webhook arrived)"
                )
            raise Snooze(SNOOZE_WHILE_BUILDING)
        budget = 1
    try:
        job = client.wait_for_job(
            remote,
            max_polls=budget,
            first_delay=pack.snapshot_first_poll,
            max_delay=max(pack.snapshot_first_poll, 60.0),
            finished=finished,
        )
    except JobNotFinished as exc:
        pending["polls"] = int(pending["polls"]) + exc.polls
        _save_pending(pack, shop.id, key, pending)
        log.info(
            "shop %s: %s export %s still %s after %d polls; waiting for the job:finished webhook",
            shop.name, kind, remote, exc.job.status, pending["polls"],
        )  # fmt: skip
        raise Snooze(SNOOZE_WHILE_BUILDING) from exc
    if not job.result_url:
        raise ShoptetError(f"shop {shop.name}: export {remote} completed without a result URL")
    return _download(pack, client, shop, kind, execution_id, remote, job.result_url)


def _save_pending(pack: ShoptetPack, shop_id: int, key: str, pending: dict[str, Any]) -> None:
    with pack.app.transaction() as conn:
        store.set_cursor(conn, shop_id, key, json.dumps(pending))


def _download(
    pack: ShoptetPack, client: ShoptetClient, shop: Shop, kind: str, execution_id: int, remote: str, url: str
) -> SnapshotFile:
    dest = snapshot_path(pack.data_dir, shop.id, kind, remote)
    dest.parent.mkdir(parents=True, exist_ok=True)
    path, sha256, size = client.download_result(url, dest)
    log.info("shop %s: %s export %s downloaded to %s (%d bytes)", shop.name, kind, remote, path, size)
    with pack.app.transaction() as conn:
        file = _record(conn, shop, kind, execution_id, remote, path, sha256, size)
        store.delete_cursor(conn, shop.id, pending_key(kind))
    return file


def _record(
    conn: Connection,
    shop: Shop,
    kind: str,
    execution_id: int,
    remote: str | None,
    path: Path,
    sha256: str,
    size: int,
) -> SnapshotFile:
    return store.record_snapshot_file(
        conn, shop.id, kind, str(path), sha256=sha256, size=size, execution_id=execution_id, remote_job_id=remote
    )


def _import_file(pack: ShoptetPack, shop: Shop, kind: str, execution_id: int, file: SnapshotFile) -> dict[str, Any]:
    path = Path(file.path)
    try:
        verify_snapshot(path)
    except SnapshotCorruptError as exc:
        _mark(pack, file, SnapshotStatus.FAILED, f"{exc} (file kept for inspection)")
        raise
    total = count_lines(path)
    job = running_job()
    if job is not None:
        job.progress(0, total, kind)
    importer = _IMPORTERS[kind]
    handoff = VariantHandoff(pack.inventory_task, shop.id)
    counts = ImportCounts()
    records: list[Mapping[str, Any]] = []
    bad_lines: list[RecordError] = []
    done = 0

    def flush() -> None:
        nonlocal counts, done
        with pack.app.transaction() as conn:
            result = importer(conn, shop.id, records)
            store.record_errors(conn, execution_id, bad_lines + result.errors)
            chunk = result.counts + ImportCounts(read=len(bad_lines), failed=len(bad_lines))
            store.add_counts(conn, execution_id, chunk)
            handoff.enqueue(conn, result.variant_codes)
        counts += chunk
        done += len(records) + len(bad_lines)
        records.clear()
        bad_lines.clear()
        if job is not None:
            job.progress(done, total, kind)

    try:
        # A generator: closing it closes the gzip stream at once when an import fails half way.
        lines = cast(Generator[dict[str, Any] | SnapshotLineError, None, None], iter_snapshot_lines(path, verify=False))
        with contextlib.closing(lines):
            for number, line in enumerate(lines, 1):  # Shoptet's files have no blank lines: this is the line
                if isinstance(line, SnapshotLineError):
                    reason = f"line {line.line_number}: {line.reason}"
                    bad_lines.append(RecordError(line.code, reason, kind=_SINGULAR[kind]))
                elif missing := missing_field(_SINGULAR[kind], line):
                    code = line.get("code") or line.get("guid")
                    reason = f"line {number}: missing field '{missing}' (required by Shoptet's schema)"
                    bad_lines.append(RecordError(str(code) if code else None, reason, kind=_SINGULAR[kind]))
                else:
                    records.append(line)
                if len(records) + len(bad_lines) >= IMPORT_CHUNK:
                    flush()
                    if job is not None and job.cancelled:
                        raise Cancelled(f"cancelled after {done} of {total} {kind}")
            if records or bad_lines:
                flush()
    except Cancelled as stop:
        _mark(pack, file, SnapshotStatus.FAILED, str(stop))
        fail_execution(pack, execution_id, str(stop))
        return {"execution_id": execution_id, "cancelled": str(stop)}
    except BaseException as exc:
        _mark(pack, file, SnapshotStatus.FAILED, f"{type(exc).__name__}: {exc}")
        raise
    with pack.app.transaction() as conn:
        store.mark_snapshot_file(conn, file.id, SnapshotStatus.IMPORTED)
        store.finish_execution(conn, execution_id)
    log.info(
        "shop %s: %s snapshot imported: read %d, created %d, updated %d, unchanged %d, failed %d",
        shop.name, kind, counts.read, counts.created, counts.updated, counts.unchanged, counts.failed,
    )  # fmt: skip
    return {
        "execution_id": execution_id,
        "file": file.path,
        "read": counts.read,
        "created": counts.created,
        "updated": counts.updated,
        "unchanged": counts.unchanged,
        "failed": counts.failed,
        "inventory_jobs": handoff.jobs,
    }


def _mark(pack: ShoptetPack, file: SnapshotFile, status: SnapshotStatus, error: str | None = None) -> None:
    try:
        with pack.app.transaction() as conn:
            store.mark_snapshot_file(conn, file.id, status, error=error)
    except Exception as exc:  # never hide the original failure behind a bookkeeping one
        log.warning("snapshot file %s: could not mark it %s: %s", file.id, status.value, exc)
