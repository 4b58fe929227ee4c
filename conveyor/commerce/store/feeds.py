"""Supplier feeds in the store: suppliers, feed integrations, import tasks, import runs and supplier items.

The design is in the tables' comments (:mod:`.schema`); what this module adds:

* **Task credentials** (basic auth or a header) are a Fernet token like shop credentials
  (:class:`~conveyor.commerce.store.crypto.CredentialCipher`): a :class:`FeedTask` only says whether it has
  any (``has_auth``); :func:`feed_task_auth` decrypts them for the download.
* **Supplier items are upserted by chunk** (:func:`upsert_supplier_items`): one SELECT of the chunk's codes,
  then one executemany INSERT of the new, one of UPDATE for the changed (content hash differs) and one
  ``UPDATE … WHERE id IN`` marking the unchanged as seen by this run. Every listed item is marked seen
  (``seen_execution_id``), so :func:`zero_unseen` finds, after a complete run, exactly what the feed no
  longer lists. A zeroed item's hash is cleared, so its next appearance counts as ``updated``.
* **Runs** (``commerce_feed_runs``) hold the file and its validators; the counts and the status are the
  pipeline execution's (:mod:`.executions`), the row that the Shops page and ``conveyor feeds show`` list.

Every list is keyset-paginated (``after_id`` / ``before_id``), never by OFFSET.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from hashlib import blake2b
from typing import Any

from sqlalchemy import Connection, bindparam, func, or_, select

from conveyor import ConfigurationError
from conveyor.commerce.feeds.errors import FeedNotFoundError
from conveyor.commerce.store._sql import analyze_if_never_analyzed, insert_rows, now, one_of
from conveyor.commerce.store.crypto import CredentialCipher
from conveyor.commerce.store.executions import ExecutionStatus
from conveyor.commerce.store.importers import ImportCounts
from conveyor.commerce.store.links import NO_CODES, NO_MATCH
from conveyor.commerce.store.schema import (
    CODE_LENGTH,
    execution_errors,
    feed_runs,
    feed_tasks,
    feeds,
    pipeline_executions,
    supplier_items,
    suppliers,
)

#: Formats an import task may declare (``auto``: detected from the content).
FEED_FORMATS = ("csv", "xml", "auto")
#: How a feed run ended, besides its execution's status (see ``commerce_feed_runs.outcome``).
RUN_OUTCOMES = ("imported", "unchanged", "identical", "dry_run", "failed")


# ---------------------------------------------------------------------------------------------- suppliers
@dataclass(frozen=True)
class Supplier:
    """A supplier (contractor) whose feeds say what it can deliver."""

    id: int
    code: str
    name: str
    created_at: float


_S = suppliers


def create_supplier(conn: Connection, *, code: str, name: str) -> Supplier:
    """Add a supplier; its ``code`` is unique (:class:`~conveyor.ConfigurationError` if taken or empty)."""
    code = code.strip()
    if not code or len(code) > 64:
        raise ConfigurationError(f"a supplier code must be 1–64 characters, got {code!r}")
    if not name.strip():
        raise ConfigurationError("a supplier needs a name")
    if conn.execute(select(_S.c.id).where(_S.c.code == code)).first() is not None:
        raise ConfigurationError(f"supplier {code!r} already exists (codes are unique)")
    at = now()
    new_id = conn.execute(
        _S.insert().values(code=code, name=name.strip(), created_at=at).returning(_S.c.id)
    ).scalar_one()
    return Supplier(int(new_id), code, name.strip(), at)


def get_supplier(conn: Connection, ref: int | str) -> Supplier:
    """A supplier by id or code; :class:`FeedNotFoundError` if there is none."""
    query = select(_S.c.id, _S.c.code, _S.c.name, _S.c.created_at)
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        row = conn.execute(query.where(or_(_S.c.id == int(ref), _S.c.code == str(ref)))).first()
    else:
        row = conn.execute(query.where(_S.c.code == ref)).first()
    if row is None:
        raise FeedNotFoundError(f"supplier {ref!r} not found (list them: conveyor suppliers list)")
    return Supplier(*row)


def list_suppliers(conn: Connection, *, after_id: int = 0, limit: int = 100) -> list[Supplier]:
    """Suppliers by id, a page after ``after_id``."""
    rows = conn.execute(
        select(_S.c.id, _S.c.code, _S.c.name, _S.c.created_at).where(_S.c.id > after_id).order_by(_S.c.id).limit(limit)
    )
    return [Supplier(*row) for row in rows]


# ---------------------------------------------------------------------------------------------- feeds
@dataclass(frozen=True)
class Feed:
    """A supplier's feed integration: what runs on a schedule (``schedule`` is a cron; None: manual only)."""

    id: int
    supplier_id: int
    name: str
    schedule: str | None
    enabled: bool
    created_at: float
    updated_at: float


_F = feeds
_FEED_COLUMNS = (_F.c.id, _F.c.supplier_id, _F.c.name, _F.c.schedule, _F.c.enabled, _F.c.created_at, _F.c.updated_at)


def create_feed(conn: Connection, *, supplier_id: int, name: str, schedule: str | None = "0 * * * *") -> Feed:
    """Add a feed integration to a supplier; ``name`` is unique. ``schedule``: a cron (hourly by default),
    or None for manual runs only."""
    get_supplier(conn, supplier_id)
    name = name.strip()
    if not name or len(name) > 255:
        raise ConfigurationError(f"a feed name must be 1–255 characters, got {name!r}")
    if conn.execute(select(_F.c.id).where(_F.c.name == name)).first() is not None:
        raise ConfigurationError(f"feed {name!r} already exists (feed names are unique)")
    at = now()
    new_id = conn.execute(
        _F.insert()
        .values(supplier_id=supplier_id, name=name, schedule=schedule, enabled=True, created_at=at, updated_at=at)
        .returning(_F.c.id)
    ).scalar_one()
    return get_feed(conn, int(new_id))


def get_feed(conn: Connection, ref: int | str) -> Feed:
    """A feed by id or name; :class:`FeedNotFoundError` if there is none."""
    query = select(*_FEED_COLUMNS)
    if isinstance(ref, int) or ref.isdigit():
        row = conn.execute(query.where(or_(_F.c.id == int(ref), _F.c.name == str(ref)))).first()
    else:
        row = conn.execute(query.where(_F.c.name == ref)).first()
    if row is None:
        raise FeedNotFoundError(f"feed {ref!r} not found (list them: conveyor feeds list)")
    return Feed(*row)


def list_feeds(conn: Connection, *, supplier_id: int | None = None, after_id: int = 0, limit: int = 100) -> list[Feed]:
    """Feed integrations by id, a page after ``after_id`` (one supplier's with ``supplier_id``)."""
    query = select(*_FEED_COLUMNS).where(_F.c.id > after_id).order_by(_F.c.id).limit(limit)
    if supplier_id is not None:
        query = query.where(_F.c.supplier_id == supplier_id)
    return [Feed(*row) for row in conn.execute(query)]


def scheduled_feeds(conn: Connection) -> list[Feed]:
    """Every enabled feed with a schedule (for the schedule catalog; a few rows, read once per process)."""
    query = select(*_FEED_COLUMNS).where(_F.c.enabled.is_(True), _F.c.schedule.is_not(None)).order_by(_F.c.id)
    return [Feed(*row) for row in conn.execute(query)]


def update_feed(
    conn: Connection, feed_id: int, *, schedule: str | object | None = ..., enabled: bool | None = None
) -> Feed:
    """Change a feed's schedule (None: manual only) or whether it is enabled."""
    values: dict[str, Any] = {"updated_at": now()}
    if schedule is not ...:
        values["schedule"] = schedule
    if enabled is not None:
        values["enabled"] = enabled
    if conn.execute(_F.update().where(_F.c.id == feed_id).values(**values)).rowcount != 1:
        raise FeedNotFoundError(f"feed {feed_id} not found")
    return get_feed(conn, feed_id)


# ---------------------------------------------------------------------------------------------- tasks
@dataclass(frozen=True)
class FeedTask:
    """One file a feed fetches: where from, its format, how its columns map, and the last run's validators.
    Credentials are not here (only ``has_auth``): :func:`feed_task_auth` decrypts them."""

    id: int
    feed_id: int
    name: str
    source: str
    has_auth: bool
    format: str
    item_path: str | None
    encoding: str | None
    mappings: dict[str, Any]
    last_headers: list[str] | None
    etag: str | None
    last_modified: str | None
    last_sha256: str | None
    enabled: bool
    created_at: float
    updated_at: float


_T = feed_tasks
_TASK_COLUMNS = (
    _T.c.id,
    _T.c.feed_id,
    _T.c.name,
    _T.c.source,
    _T.c.auth,
    _T.c.format,
    _T.c.item_path,
    _T.c.encoding,
    _T.c.mappings,
    _T.c.last_headers,
    _T.c.etag,
    _T.c.last_modified,
    _T.c.last_sha256,
    _T.c.enabled,
    _T.c.created_at,
    _T.c.updated_at,
)


def _task(row: Sequence[Any]) -> FeedTask:
    return FeedTask(
        id=int(row[0]),
        feed_id=int(row[1]),
        name=row[2],
        source=row[3],
        has_auth=row[4] is not None,
        format=row[5],
        item_path=row[6],
        encoding=row[7],
        mappings=json.loads(row[8]),
        last_headers=json.loads(row[9]) if row[9] else None,
        etag=row[10],
        last_modified=row[11],
        last_sha256=row[12],
        enabled=bool(row[13]),
        created_at=row[14],
        updated_at=row[15],
    )


def _check_auth(auth: Mapping[str, Any] | None) -> None:
    if auth is None:
        return
    keys = set(auth)
    if keys not in ({"user", "password"}, {"header", "value"}):
        raise ConfigurationError(
            "feed credentials are either {'user', 'password'} (HTTP basic auth) or {'header', 'value'} "
            f"(an extra header such as X-Api-Key), got the keys {sorted(keys)}"
        )


def create_feed_task(
    conn: Connection,
    cipher: CredentialCipher | None,
    *,
    feed_id: int,
    name: str,
    source: str,
    mappings: Mapping[str, Any],
    format: str = "auto",
    item_path: str | None = None,
    encoding: str | None = None,
    auth: Mapping[str, Any] | None = None,
) -> FeedTask:
    """Add an import task to a feed. ``mappings`` is a :class:`~conveyor.commerce.feeds.parsing.FeedMapping`
    as a dict (validated by the caller); ``auth`` is encrypted with ``cipher`` (required when given)."""
    get_feed(conn, feed_id)
    if format not in FEED_FORMATS:
        raise ConfigurationError(f"unknown feed format {format!r} (known: {', '.join(FEED_FORMATS)})")
    if not source.strip():
        raise ConfigurationError("an import task needs a source: an http(s) URL or a local path")
    _check_auth(auth)
    token = None
    if auth is not None:
        if cipher is None:
            raise ConfigurationError("feed credentials need the secret key (CONVEYOR_COMMERCE_SECRET_KEY)")
        token = cipher.encrypt(auth)
    at = now()
    new_id = conn.execute(
        _T.insert()
        .values(
            feed_id=feed_id,
            name=name.strip() or "default",
            source=source.strip(),
            auth=token,
            format=format,
            item_path=item_path,
            encoding=encoding,
            mappings=json.dumps(dict(mappings), sort_keys=True),
            enabled=True,
            created_at=at,
            updated_at=at,
        )
        .returning(_T.c.id)
    ).scalar_one()
    return get_feed_task(conn, int(new_id))


def get_feed_task(conn: Connection, task_id: int) -> FeedTask:
    """One import task; :class:`FeedNotFoundError` if there is none."""
    row = conn.execute(select(*_TASK_COLUMNS).where(_T.c.id == task_id)).first()
    if row is None:
        raise FeedNotFoundError(f"import task {task_id} not found (see the feed's tasks: conveyor feeds show FEED)")
    return _task(row)


def list_feed_tasks(conn: Connection, feed_id: int, *, after_id: int = 0, limit: int = 100) -> list[FeedTask]:
    """A feed's import tasks by id, a page after ``after_id``."""
    rows = conn.execute(
        select(*_TASK_COLUMNS).where(_T.c.feed_id == feed_id, _T.c.id > after_id).order_by(_T.c.id).limit(limit)
    )
    return [_task(row) for row in rows]


def feed_task_auth(conn: Connection, cipher: CredentialCipher, task_id: int) -> dict[str, Any] | None:
    """The task's decrypted credentials, or None when it has none."""
    token = conn.execute(select(_T.c.auth).where(_T.c.id == task_id)).scalar_one_or_none()
    return None if token is None else cipher.decrypt(token)


def update_feed_task(
    conn: Connection,
    cipher: CredentialCipher | None,
    task_id: int,
    *,
    source: str | None = None,
    mappings: Mapping[str, Any] | None = None,
    format: str | None = None,
    item_path: str | object | None = ...,
    encoding: str | object | None = ...,
    auth: Mapping[str, Any] | object | None = ...,
    enabled: bool | None = None,
) -> FeedTask:
    """Change a task. A changed source, format, encoding or mapping forgets the validators of the last run,
    so the next run imports the content again even if the supplier's file did not change."""
    get_feed_task(conn, task_id)
    values: dict[str, Any] = {}
    if source is not None:
        values["source"] = source.strip()
    if mappings is not None:
        values["mappings"] = json.dumps(dict(mappings), sort_keys=True)
    if format is not None:
        if format not in FEED_FORMATS:
            raise ConfigurationError(f"unknown feed format {format!r} (known: {', '.join(FEED_FORMATS)})")
        values["format"] = format
    if item_path is not ...:
        values["item_path"] = item_path
    if encoding is not ...:
        values["encoding"] = encoding
    if auth is not ...:
        if auth is None:
            values["auth"] = None
        else:
            assert isinstance(auth, Mapping)
            _check_auth(auth)
            if cipher is None:
                raise ConfigurationError("feed credentials need the secret key (CONVEYOR_COMMERCE_SECRET_KEY)")
            values["auth"] = cipher.encrypt(auth)
    if values:
        values.update(etag=None, last_modified=None, last_sha256=None)
    if enabled is not None:
        values["enabled"] = enabled
    values["updated_at"] = now()
    conn.execute(_T.update().where(_T.c.id == task_id).values(**values))
    return get_feed_task(conn, task_id)


def set_last_headers(conn: Connection, task_id: int, headers: Sequence[str]) -> None:
    """Remember the columns of the file a run just opened (the mapping editor shows them)."""
    conn.execute(_T.update().where(_T.c.id == task_id).values(last_headers=json.dumps(list(headers))))


def save_validators(
    conn: Connection, task_id: int, *, etag: str | None, last_modified: str | None, sha256: str | None
) -> None:
    """After a complete run: the validators the next run's conditional GET sends, and the content's digest
    (identical content served without validators then writes nothing)."""
    conn.execute(
        _T.update().where(_T.c.id == task_id).values(etag=etag, last_modified=last_modified, last_sha256=sha256)
    )


# ---------------------------------------------------------------------------------------------- runs
@dataclass(frozen=True)
class FeedRun:
    """What a feed import run knows besides its execution: the file, validators, chunks, zeroed items."""

    execution_id: int
    feed_task_id: int
    outcome: str | None
    path: str | None
    sha256: str | None
    size: int | None
    etag: str | None
    last_modified: str | None
    row_limit: int | None
    dry_run: bool
    chunks: int
    chunks_done: int
    zeroed: int
    batch_id: str | None
    details: dict[str, Any]
    created_at: float


_R = feed_runs
_RUN_COLUMNS = (
    _R.c.execution_id,
    _R.c.feed_task_id,
    _R.c.outcome,
    _R.c.path,
    _R.c.sha256,
    _R.c.size,
    _R.c.etag,
    _R.c.last_modified,
    _R.c.row_limit,
    _R.c.dry_run,
    _R.c.chunks,
    _R.c.chunks_done,
    _R.c.zeroed,
    _R.c.batch_id,
    _R.c.details,
    _R.c.created_at,
)


def _run(row: Sequence[Any]) -> FeedRun:
    values = list(row)
    values[9] = bool(values[9])
    values[14] = json.loads(values[14]) if values[14] else {}
    return FeedRun(*values)


def create_feed_run(
    conn: Connection, execution_id: int, task_id: int, *, row_limit: int | None = None, dry_run: bool = False
) -> None:
    """Record the run of an execution (in the transaction that queues it)."""
    conn.execute(
        _R.insert().values(
            execution_id=execution_id,
            feed_task_id=task_id,
            row_limit=row_limit,
            dry_run=dry_run,
            created_at=now(),
        )
    )


def update_feed_run(conn: Connection, execution_id: int, **values: Any) -> None:
    """Set columns of a run (``details`` as a dict is stored as JSON)."""
    if "details" in values and not isinstance(values["details"], str | None):
        values["details"] = json.dumps(values["details"], default=str)
    conn.execute(_R.update().where(_R.c.execution_id == execution_id).values(**values))


def chunk_done(conn: Connection, execution_id: int) -> None:
    """Count one finished chunk into its run (progress for the pages; the batch has the exact counts)."""
    conn.execute(_R.update().where(_R.c.execution_id == execution_id).values(chunks_done=_R.c.chunks_done + 1))


def get_feed_run(conn: Connection, execution_id: int) -> FeedRun:
    """One run; :class:`FeedNotFoundError` if the execution is not a feed run."""
    row = conn.execute(select(*_RUN_COLUMNS).where(_R.c.execution_id == execution_id)).first()
    if row is None:
        raise FeedNotFoundError(f"feed run {execution_id} not found")
    return _run(row)


def chunk_context(conn: Connection, execution_id: int) -> tuple[str, int, int]:
    """What a chunk job needs of its run, in one query: the execution's status, the supplier id and the import
    task id. :class:`FeedNotFoundError` if the execution is not a feed run."""
    e = pipeline_executions
    row = conn.execute(
        select(e.c.status, _F.c.supplier_id, _T.c.id)
        .select_from(e.join(_R, _R.c.execution_id == e.c.id).join(_T, _T.c.id == _R.c.feed_task_id))
        .join(_F, _F.c.id == _T.c.feed_id)
        .where(e.c.id == execution_id)
    ).first()
    if row is None:
        raise FeedNotFoundError(f"feed run {execution_id} not found")
    return str(row[0]), int(row[1]), int(row[2])


def list_feed_runs(
    conn: Connection,
    *,
    task_ids: Sequence[int] | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[FeedRun]:
    """Runs newest first (of the given tasks), a page before ``before_id`` (keyset on the execution id)."""
    query = select(*_RUN_COLUMNS).order_by(_R.c.execution_id.desc()).limit(limit)
    if task_ids is not None:
        query = query.where(_R.c.feed_task_id.in_(list(task_ids)))
    if before_id is not None:
        query = query.where(_R.c.execution_id < before_id)
    return [_run(row) for row in conn.execute(query)]


def open_run_of_task(conn: Connection, task_id: int) -> int | None:
    """The execution id of the task's queued or running import (not a dry run), if there is one."""
    e = pipeline_executions
    return conn.execute(
        select(e.c.id)
        .join(_R, _R.c.execution_id == e.c.id)
        .where(
            e.c.feed_task_id == task_id,
            e.c.status.in_([ExecutionStatus.QUEUED.value, ExecutionStatus.RUNNING.value]),
        )
        .order_by(e.c.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def attach_job(conn: Connection, execution_id: int, job_id: int) -> None:
    """Name the job that runs a queued execution (queued in the same transaction, after the execution)."""
    e = pipeline_executions
    conn.execute(e.update().where(e.c.id == execution_id).values(job_id=job_id))


def record_row_errors(conn: Connection, execution_id: int, errors: Iterable[tuple[int | None, str | None, str]]) -> int:
    """Store a run's bad rows: ``(line, code, reason)`` each; returns how many."""
    at = now()
    rows = [
        {
            "execution_id": execution_id,
            "line": line,
            "record_code": code[:255] if code else None,
            "reason": reason,
            "created_at": at,
        }
        for line, code, reason in errors
    ]
    if rows:
        conn.execute(execution_errors.insert(), rows)
    return len(rows)


# ---------------------------------------------------------------------------------------------- items
@dataclass(frozen=True)
class SupplierOffer:
    """One row of a feed as stored: the supplier's code (its SKU, else its EAN) and what it offers."""

    supplier_code: str
    sku: str | None
    ean: str | None
    name: str | None
    manufacturer_code: str | None
    stock_quantity: Decimal | None
    in_stock: bool | None
    delivery_days: int | None
    purchase_price: Decimal | None

    def content_hash(self) -> str:
        """A digest of every stored field: equal digests mean nothing to write."""
        raw = "\x1f".join(
            "" if v is None else str(v)
            for v in (
                self.sku,
                self.ean,
                self.name,
                self.manufacturer_code,
                self.stock_quantity,
                self.in_stock,
                self.delivery_days,
                self.purchase_price,
            )
        )
        return blake2b(raw.encode("utf-8"), digest_size=16).hexdigest()


@dataclass(frozen=True)
class SupplierItem:
    """A supplier item as stored, with its last linking verdict."""

    id: int
    supplier_id: int
    feed_task_id: int
    supplier_code: str
    sku: str | None
    ean: str | None
    name: str | None
    manufacturer_code: str | None
    stock_quantity: Decimal | None
    in_stock: bool | None
    delivery_days: int | None
    purchase_price: Decimal | None
    seen_execution_id: int | None
    link_status: str
    link_note: str | None
    updated_at: float


_I = supplier_items
_ITEM_COLUMNS = (
    _I.c.id,
    _I.c.supplier_id,
    _I.c.feed_task_id,
    _I.c.supplier_code,
    _I.c.sku,
    _I.c.ean,
    _I.c.name,
    _I.c.manufacturer_code,
    _I.c.stock_quantity,
    _I.c.in_stock,
    _I.c.delivery_days,
    _I.c.purchase_price,
    _I.c.seen_execution_id,
    _I.c.link_status,
    _I.c.link_note,
    _I.c.updated_at,
)


def _item(row: Sequence[Any]) -> SupplierItem:
    values = list(row)
    values[9] = None if values[9] is None else bool(values[9])
    return SupplierItem(*values)


def sku_key(sku: str | None) -> str | None:
    """What linking compares: the SKU trimmed and lower-cased (None for an empty SKU)."""
    if sku is None:
        return None
    key = sku.strip().lower()
    return key or None


def _row(offer: SupplierOffer, digest: str, execution_id: int, at: float) -> dict[str, Any]:
    return {
        "sku": offer.sku,
        "sku_key": sku_key(offer.sku),
        "ean": offer.ean,
        "name": offer.name,
        "manufacturer_code": offer.manufacturer_code,
        "stock_quantity": offer.stock_quantity,
        "in_stock": offer.in_stock,
        "delivery_days": offer.delivery_days,
        "purchase_price": offer.purchase_price,
        "content_hash": digest,
        "seen_execution_id": execution_id,
        "updated_at": at,
    }


_UPDATE_ITEM = _I.update().where(_I.c.id == bindparam("b_id"))


def upsert_supplier_items(
    conn: Connection, supplier_id: int, feed_task_id: int, execution_id: int, offers: Sequence[SupplierOffer]
) -> ImportCounts:
    """Store one chunk of a feed (codes unique within the chunk; the caller resolves duplicates) and mark
    every listed item as seen by ``execution_id``. Returns created / updated / unchanged (``read`` = rows).

    Codes longer than the column are the caller's to refuse (a row error), so PostgreSQL's length check never
    aborts a chunk."""
    counts = ImportCounts(read=len(offers))
    if not offers:
        return counts
    at = now()
    stored: dict[str, tuple[int, str, int]] = {
        code: (int(item_id), digest, int(task))
        for item_id, code, digest, task in conn.execute(
            select(_I.c.id, _I.c.supplier_code, _I.c.content_hash, _I.c.feed_task_id).where(
                _I.c.supplier_id == supplier_id, one_of(_I.c.supplier_code, [o.supplier_code for o in offers])
            )
        )
    }
    new: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    unchanged: list[int] = []
    for offer in offers:
        digest = offer.content_hash()
        before = stored.get(offer.supplier_code)
        if before is None:
            row = _row(offer, digest, execution_id, at)
            row.update(supplier_id=supplier_id, feed_task_id=feed_task_id, supplier_code=offer.supplier_code)
            # New items start unmatched with the note linking would give them, so linking writes only the
            # items whose verdict changes.
            row.update(link_note=NO_MATCH if offer.sku or offer.ean else NO_CODES)
            new.append(row)
        elif before[1] != digest or before[2] != feed_task_id:
            row = _row(offer, digest, execution_id, at)
            row.update(b_id=before[0], feed_task_id=feed_task_id)
            changed.append(row)
        else:
            unchanged.append(before[0])
    if new:
        insert_rows(conn, _I, new)  # one statement on PostgreSQL, not a message per row
        analyze_if_never_analyzed(conn, _I)
    if changed:
        conn.execute(_UPDATE_ITEM, changed)
    if unchanged:
        conn.execute(_I.update().where(one_of(_I.c.id, unchanged)).values(seen_execution_id=execution_id))
    counts.created, counts.updated, counts.unchanged = len(new), len(changed), len(unchanged)
    return counts


def mark_seen(conn: Connection, supplier_id: int, feed_task_id: int, execution_id: int, codes: Iterable[str]) -> int:
    """Mark items the feed listed with a bad row as seen: they keep their last values instead of being
    zeroed (the feed still lists them; only this row could not be read). Returns how many were found."""
    wanted = sorted({c for c in codes if c and len(c) <= CODE_LENGTH})
    if not wanted:
        return 0
    done = conn.execute(
        _I.update()
        .where(_I.c.supplier_id == supplier_id, _I.c.feed_task_id == feed_task_id, one_of(_I.c.supplier_code, wanted))
        .values(seen_execution_id=execution_id)
    )
    return int(done.rowcount)


def zero_unseen(conn: Connection, feed_task_id: int, execution_id: int) -> int:
    """After a complete, successful run only: the task's items that run did not list get stock 0 and
    ``in_stock`` false (and a cleared hash, so their return counts as updated). Returns how many changed."""
    done = conn.execute(
        _I.update()
        .where(
            _I.c.feed_task_id == feed_task_id,
            or_(_I.c.seen_execution_id.is_(None), _I.c.seen_execution_id != execution_id),
            or_(
                _I.c.stock_quantity.is_(None),
                _I.c.stock_quantity != 0,
                _I.c.in_stock.is_(None),
                _I.c.in_stock.is_(True),
            ),
        )
        .values(stock_quantity=Decimal(0), in_stock=False, content_hash="", updated_at=now())
    )
    return int(done.rowcount)


def get_supplier_item(conn: Connection, item_id: int) -> SupplierItem:
    """One supplier item; :class:`FeedNotFoundError` if there is none."""
    row = conn.execute(select(*_ITEM_COLUMNS).where(_I.c.id == item_id)).first()
    if row is None:
        raise FeedNotFoundError(f"supplier item {item_id} not found")
    return _item(row)


def find_supplier_item(conn: Connection, supplier_id: int, supplier_code: str) -> SupplierItem | None:
    """A supplier's item by the supplier's own code."""
    row = conn.execute(
        select(*_ITEM_COLUMNS).where(_I.c.supplier_id == supplier_id, _I.c.supplier_code == supplier_code)
    ).first()
    return None if row is None else _item(row)


def list_supplier_items(
    conn: Connection,
    *,
    supplier_id: int | None = None,
    feed_task_id: int | None = None,
    link_status: Sequence[str] | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> list[SupplierItem]:
    """Supplier items by id (filtered by supplier, task and link status), a page after ``after_id``."""
    query = select(*_ITEM_COLUMNS).where(_I.c.id > after_id).order_by(_I.c.id).limit(limit)
    if supplier_id is not None:
        query = query.where(_I.c.supplier_id == supplier_id)
    if feed_task_id is not None:
        query = query.where(_I.c.feed_task_id == feed_task_id)
    if link_status is not None:
        query = query.where(_I.c.link_status.in_(list(link_status)))
    return [_item(row) for row in conn.execute(query)]


def count_supplier_items(conn: Connection, *, feed_task_id: int | None = None, supplier_id: int | None = None) -> int:
    """How many supplier items a task (or a supplier) has."""
    query = select(func.count()).select_from(_I)
    if feed_task_id is not None:
        query = query.where(_I.c.feed_task_id == feed_task_id)
    if supplier_id is not None:
        query = query.where(_I.c.supplier_id == supplier_id)
    return int(conn.execute(query).scalar_one())
