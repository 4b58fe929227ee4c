"""Sync state: cursors (where each incremental sync got to), received webhook events, snapshot files.

* A **cursor** is a string per (shop, key), e.g. ``orders.change_time`` → ``2024-03-01T10:00:00+0100``; the
  pipeline that reads it decides its format. Set it in the same transaction as the data it covers, and a
  crash never skips records.
* A **webhook event** is recorded once per (shop, event, instance, eventCreated) — the identity Shoptet's
  notifications have, as they carry no event id — so a repeated delivery is detected by one INSERT. As
  ``eventCreated`` has 1 s resolution, a "repeat" may also be a second real event in the same second: its
  ``deliveries`` count goes up (:func:`count_repeat_delivery`) and the caller still acts on it.
* A **snapshot file** is recorded when downloaded (path, sha256, size); its status says whether it was
  imported. A failed import is retried from the same file, without downloading it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, select

from conveyor import InvalidStateError
from conveyor.commerce.store._sql import now, upsert
from conveyor.commerce.store.errors import SnapshotFileNotFoundError
from conveyor.commerce.store.schema import snapshot_files, sync_cursors, webhook_events


# ---------------------------------------------------------------------------------------------- cursors
def get_cursor(conn: Connection, shop_id: int, key: str) -> str | None:
    """The cursor's value, or None if the sync never ran."""
    return conn.execute(
        select(sync_cursors.c.value).where(sync_cursors.c.shop_id == shop_id, sync_cursors.c.key == key)
    ).scalar_one_or_none()


def set_cursor(conn: Connection, shop_id: int, key: str, value: str) -> None:
    """Create or move the cursor (one statement, so two writers never fail on the key)."""
    at = now()
    stmt = upsert(conn, sync_cursors).values(shop_id=shop_id, key=key, value=value, updated_at=at)
    conn.execute(stmt.on_conflict_do_update(index_elements=["shop_id", "key"], set_={"value": value, "updated_at": at}))


def delete_cursor(conn: Connection, shop_id: int, key: str) -> bool:
    """Forget a cursor (the next sync starts from the beginning); False if it did not exist."""
    done = conn.execute(sync_cursors.delete().where(sync_cursors.c.shop_id == shop_id, sync_cursors.c.key == key))
    return done.rowcount == 1


# ------------------------------------------------------------------------------------------ webhooks
def _epoch(value: str | datetime | float) -> float:
    if isinstance(value, int | float):
        return float(value)
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        raise ValueError(f"event time {value!r} has no UTC offset")
    return moment.timestamp()


def record_webhook_event(
    conn: Connection,
    shop_id: int,
    event: str,
    instance: str,
    event_created: str | datetime | float,
    *,
    received_at: float | None = None,
) -> int | None:
    """Record a received webhook event; its new id, or None if this event was already recorded (a repeated
    delivery: acknowledge it and do nothing). ``event_created`` is Shoptet's ``eventCreated``
    (``2019-01-08T15:13:39+0100``), a datetime, or epoch seconds."""
    stmt = upsert(conn, webhook_events).values(
        shop_id=shop_id,
        event=event,
        instance=instance,
        event_created=_epoch(event_created),
        received_at=now() if received_at is None else received_at,
    )
    # ON CONFLICT DO NOTHING returns no row for a duplicate, and never aborts the caller's transaction.
    new_id = conn.execute(stmt.on_conflict_do_nothing().returning(webhook_events.c.id)).scalar_one_or_none()
    return None if new_id is None else int(new_id)


def count_repeat_delivery(
    conn: Connection, shop_id: int, event: str, instance: str, event_created: str | datetime | float
) -> int:
    """Count one more notification with this identity (already recorded); returns the deliveries so far."""
    w = webhook_events
    match = (
        (w.c.shop_id == shop_id)
        & (w.c.event == event)
        & (w.c.instance == instance)
        & (w.c.event_created == _epoch(event_created))
    )
    conn.execute(w.update().where(match).values(deliveries=w.c.deliveries + 1))
    return int(conn.execute(select(w.c.deliveries).where(match)).scalar_one_or_none() or 0)


def prune_webhook_events(conn: Connection, received_before: float) -> int:
    """Forget events received before this time (past the platform's redelivery window); returns how many."""
    return conn.execute(webhook_events.delete().where(webhook_events.c.received_at < received_before)).rowcount


# ------------------------------------------------------------------------------------- snapshot files
class SnapshotStatus(StrEnum):
    DOWNLOADED = "downloaded"
    IMPORTED = "imported"
    FAILED = "failed"


#: From each status, the statuses a snapshot file may move to: a failed import may be retried (and fail
#: again) from the same file; an imported file is done.
SNAPSHOT_TRANSITIONS: dict[SnapshotStatus, frozenset[SnapshotStatus]] = {
    SnapshotStatus.DOWNLOADED: frozenset({SnapshotStatus.IMPORTED, SnapshotStatus.FAILED}),
    SnapshotStatus.FAILED: frozenset({SnapshotStatus.IMPORTED, SnapshotStatus.FAILED}),
    SnapshotStatus.IMPORTED: frozenset(),
}


@dataclass(frozen=True)
class SnapshotFile:
    """A downloaded snapshot file and what became of it."""

    id: int
    shop_id: int
    execution_id: int | None
    kind: str
    remote_job_id: str | None
    path: str
    sha256: str
    size: int
    downloaded_at: float
    status: SnapshotStatus
    imported_at: float | None
    error: str | None


_s = snapshot_files
_COLUMNS = (
    _s.c.id,
    _s.c.shop_id,
    _s.c.execution_id,
    _s.c.kind,
    _s.c.remote_job_id,
    _s.c.path,
    _s.c.sha256,
    _s.c.size,
    _s.c.downloaded_at,
    _s.c.status,
    _s.c.imported_at,
    _s.c.error,
)


def _file(row: Sequence[Any]) -> SnapshotFile:
    values = list(row)
    values[9] = SnapshotStatus(values[9])
    return SnapshotFile(*values)


def record_snapshot_file(
    conn: Connection,
    shop_id: int,
    kind: str,
    path: str,
    *,
    sha256: str,
    size: int,
    execution_id: int | None = None,
    remote_job_id: str | None = None,
) -> SnapshotFile:
    """Record a downloaded file as ``downloaded``. Recording the same ``remote_job_id`` again (the file was
    downloaded anew) replaces path, digest and size and makes it importable again."""
    at = now()
    values = {"path": path, "sha256": sha256, "size": size, "downloaded_at": at, "execution_id": execution_id}
    fresh = {**values, "status": SnapshotStatus.DOWNLOADED.value, "imported_at": None, "error": None}
    stmt = upsert(conn, snapshot_files).values(shop_id=shop_id, kind=kind, remote_job_id=remote_job_id, **fresh)
    file_id = conn.execute(
        stmt.on_conflict_do_update(index_elements=["shop_id", "remote_job_id"], set_=fresh).returning(_s.c.id)
    ).scalar_one()
    return get_snapshot_file(conn, int(file_id))


def get_snapshot_file(conn: Connection, file_id: int) -> SnapshotFile:
    """One recorded file; :class:`SnapshotFileNotFoundError` if there is none."""
    row = conn.execute(select(*_COLUMNS).where(_s.c.id == file_id)).first()
    if row is None:
        raise SnapshotFileNotFoundError(file_id)
    return _file(row)


def find_snapshot_file(conn: Connection, shop_id: int, remote_job_id: str) -> SnapshotFile | None:
    """The file of this platform job, if it was downloaded already (so a repeated ``job:finished`` webhook
    does not download it twice)."""
    row = conn.execute(select(*_COLUMNS).where(_s.c.shop_id == shop_id, _s.c.remote_job_id == remote_job_id)).first()
    return None if row is None else _file(row)


def latest_snapshot_file(
    conn: Connection, shop_id: int, kind: str, *, status: SnapshotStatus | None = None
) -> SnapshotFile | None:
    """The newest file of this kind (and status, if given), e.g. the failed one to retry."""
    query = select(*_COLUMNS).where(_s.c.shop_id == shop_id, _s.c.kind == kind).order_by(_s.c.id.desc()).limit(1)
    if status is not None:
        query = query.where(_s.c.status == status.value)
    row = conn.execute(query).first()
    return None if row is None else _file(row)


def mark_snapshot_file(conn: Connection, file_id: int, status: SnapshotStatus, *, error: str | None = None) -> None:
    """Record the outcome of importing the file: ``imported``, or ``failed`` with the error."""
    sources = [s.value for s, targets in SNAPSHOT_TRANSITIONS.items() if status in targets]
    values: dict[str, Any] = {"status": status.value, "error": error}
    if status is SnapshotStatus.IMPORTED:
        values["imported_at"] = now()
    done = conn.execute(_s.update().where(_s.c.id == file_id, _s.c.status.in_(sources)).values(**values))
    if done.rowcount != 1:
        current = get_snapshot_file(conn, file_id)
        raise InvalidStateError(f"snapshot file {file_id} is {current.status.value}: it cannot become {status.value}")
