"""Parked records: records a pipeline could not import, kept visible instead of pinning its cursor.

Platform-neutral (Shoptet today, PrestaShop and WooCommerce later): a record is named by (shop, ``kind``,
``code``), where ``kind`` is ``order``, ``product`` or ``customer`` and ``code`` is the platform's key.

A record moves through these states (:data:`PARKED_TRANSITIONS`):

* ``failing`` – it failed in ``failures`` runs in a row; it still holds the pipeline's cursor at its change
  time, so the next run reads it again (most failures are transient or fixed at the source quickly).
* ``parked`` – it failed ``park_after`` runs in a row: it no longer holds the cursor (one broken record
  must not make every run re-read everything after it), and the pipeline retries it on its own back-off
  (``next_retry_at``, doubling up to a day). An operator can retry it now or dismiss it.
* ``dismissed`` – an operator decided to leave it; it stays listed (nothing is dropped silently) but is
  not retried. An operator's retry parks it again, due now.

A record that imports (in a run, or a retry) is resolved: its row is deleted, as nothing is wrong any more.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, func, select

from conveyor import InvalidStateError
from conveyor.commerce.store._sql import now, one_of
from conveyor.commerce.store.errors import ParkedRecordNotFoundError
from conveyor.commerce.store.schema import parked_records

#: First retry of a parked record this long after it was parked; then doubling, up to :data:`MAX_RETRY_DELAY`.
RETRY_DELAY = 900.0
MAX_RETRY_DELAY = 86_400.0


class ParkedStatus(StrEnum):
    FAILING = "failing"
    PARKED = "parked"
    DISMISSED = "dismissed"


#: What each state may become through an operator's action (a run moves failing → parked by itself).
PARKED_TRANSITIONS: dict[ParkedStatus, frozenset[ParkedStatus]] = {
    ParkedStatus.FAILING: frozenset(),  # every run reads it again anyway
    ParkedStatus.PARKED: frozenset({ParkedStatus.PARKED, ParkedStatus.DISMISSED}),
    ParkedStatus.DISMISSED: frozenset({ParkedStatus.PARKED}),
}


@dataclass(frozen=True)
class ParkedRecord:
    """A record that failed, with its last error and when it is retried next."""

    id: int
    shop_id: int
    kind: str
    code: str
    status: ParkedStatus
    failures: int
    last_error: str
    change_time: str | None
    first_failed_at: float
    last_failed_at: float
    parked_at: float | None
    next_retry_at: float | None
    retries: int

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "status": self.status.value}


@dataclass(frozen=True)
class Failure:
    """One record that failed in a run: its code, why, and the change time it was listed with."""

    code: str
    error: str
    change_time: str | None = None


_p = parked_records
_COLUMNS = (
    _p.c.id,
    _p.c.shop_id,
    _p.c.kind,
    _p.c.code,
    _p.c.status,
    _p.c.failures,
    _p.c.last_error,
    _p.c.change_time,
    _p.c.first_failed_at,
    _p.c.last_failed_at,
    _p.c.parked_at,
    _p.c.next_retry_at,
    _p.c.retries,
)


def _record(row: Sequence[Any]) -> ParkedRecord:
    values = list(row)
    values[4] = ParkedStatus(values[4])
    return ParkedRecord(*values)


def retry_delay(retries: int) -> float:
    """Seconds before retry number ``retries + 1`` of a parked record."""
    return min(MAX_RETRY_DELAY, RETRY_DELAY * 2.0 ** max(0, retries))


def note_failures(
    conn: Connection,
    shop_id: int,
    kind: str,
    failures: Iterable[Failure],
    *,
    park_after: int,
    at: float | None = None,
) -> dict[str, ParkedStatus]:
    """Count one more failed run for each record; park those that reached ``park_after`` runs in a row.

    Call it once per run with the run's failures (a record listed twice in a run counts once). Returns
    each record's status afterwards: a ``failing`` one still holds the cursor, a ``parked`` or
    ``dismissed`` one does not. A parked record that fails again is due again after a longer pause."""
    if park_after < 1:
        raise ValueError(f"park_after must be at least 1, got {park_after}")
    moment = now() if at is None else at
    by_code = {f.code: f for f in failures}
    if not by_code:
        return {}
    existing = {
        r.code: r
        for r in (
            _record(row)
            for row in conn.execute(
                select(*_COLUMNS).where(_p.c.shop_id == shop_id, _p.c.kind == kind, one_of(_p.c.code, by_code))
            )
        )
    }
    result: dict[str, ParkedStatus] = {}
    for code, failure in by_code.items():
        error = failure.error[:4000]
        old = existing.get(code)
        if old is None:
            status = ParkedStatus.PARKED if park_after <= 1 else ParkedStatus.FAILING
            parked = status is ParkedStatus.PARKED
            row = {
                "shop_id": shop_id, "kind": kind, "code": code, "status": status.value, "failures": 1,
                "last_error": error, "change_time": failure.change_time, "first_failed_at": moment,
                "last_failed_at": moment, "parked_at": moment if parked else None,
                "next_retry_at": moment + retry_delay(0) if parked else None, "retries": 0,
            }  # fmt: skip
            conn.execute(_p.insert().values(**row))
            result[code] = status
            continue
        values: dict[str, Any] = {
            "failures": old.failures + 1,
            "last_error": error,
            "last_failed_at": moment,
            "change_time": failure.change_time or old.change_time,
        }
        status = old.status
        if status is ParkedStatus.FAILING and old.failures + 1 >= park_after:
            status = ParkedStatus.PARKED
            values.update(status=status.value, parked_at=moment, next_retry_at=moment + retry_delay(0))
        elif status is ParkedStatus.PARKED:
            values.update(retries=old.retries + 1, next_retry_at=moment + retry_delay(old.retries + 1))
        conn.execute(_p.update().where(_p.c.id == old.id).values(**values))
        result[code] = status
    return result


def tracked_codes(conn: Connection, shop_id: int, kind: str) -> set[str]:
    """Codes of every failing, parked or dismissed record of this kind (few: only broken records)."""
    return set(conn.execute(select(_p.c.code).where(_p.c.shop_id == shop_id, _p.c.kind == kind)).scalars())


def resolve(conn: Connection, shop_id: int, kind: str, codes: Iterable[str]) -> int:
    """These records imported: forget them (whatever their state). Returns how many were tracked."""
    wanted = list(codes)
    if not wanted:
        return 0
    done = conn.execute(_p.delete().where(_p.c.shop_id == shop_id, _p.c.kind == kind, one_of(_p.c.code, wanted)))
    return int(done.rowcount)


def due_parked(conn: Connection, shop_id: int, kind: str, *, at: float | None = None, limit: int = 500) -> list[str]:
    """Codes of the parked records whose retry is due, the longest-waiting first."""
    moment = now() if at is None else at
    query = (
        select(_p.c.code)
        .where(
            _p.c.shop_id == shop_id,
            _p.c.kind == kind,
            _p.c.status == ParkedStatus.PARKED.value,
            _p.c.next_retry_at <= moment,
        )
        .order_by(_p.c.next_retry_at, _p.c.id)
        .limit(limit)
    )
    return list(conn.execute(query).scalars())


def list_parked(
    conn: Connection,
    shop_id: int | None = None,
    *,
    kind: str | None = None,
    statuses: Sequence[ParkedStatus] = (ParkedStatus.PARKED, ParkedStatus.DISMISSED),
    after_id: int = 0,
    limit: int = 100,
) -> list[ParkedRecord]:
    """Tracked records by id (keyset pages with ``after_id``), parked and dismissed ones by default."""
    query = select(*_COLUMNS).where(_p.c.id > after_id, _p.c.status.in_([s.value for s in statuses]))
    if shop_id is not None:
        query = query.where(_p.c.shop_id == shop_id)
    if kind is not None:
        query = query.where(_p.c.kind == kind)
    return [_record(row) for row in conn.execute(query.order_by(_p.c.id).limit(limit))]


def count_parked(conn: Connection, shop_id: int) -> dict[str, int]:
    """How many records of the shop are in each state (states with none are left out)."""
    rows = conn.execute(select(_p.c.status, func.count()).where(_p.c.shop_id == shop_id).group_by(_p.c.status))
    return {str(status): int(n) for status, n in rows}


def get_parked(conn: Connection, record_id: int) -> ParkedRecord:
    """One tracked record; :class:`ParkedRecordNotFoundError` if there is none (resolved, or never was)."""
    row = conn.execute(select(*_COLUMNS).where(_p.c.id == record_id)).first()
    if row is None:
        raise ParkedRecordNotFoundError(record_id)
    return _record(row)


def _move(conn: Connection, record_id: int, target: ParkedStatus, values: dict[str, Any]) -> ParkedRecord:
    sources = [s.value for s, targets in PARKED_TRANSITIONS.items() if target in targets]
    done = conn.execute(_p.update().where(_p.c.id == record_id, _p.c.status.in_(sources)).values(**values))
    if done.rowcount != 1:
        current = get_parked(conn, record_id)
        raise InvalidStateError(
            f"record {record_id} ({current.kind} {current.code}) is {current.status.value}: "
            f"it cannot be {'retried' if target is ParkedStatus.PARKED else target.value}"
        )
    return get_parked(conn, record_id)


def retry_parked(conn: Connection, record_id: int, *, at: float | None = None) -> ParkedRecord:
    """An operator's retry: the record (parked or dismissed) is parked and due now; the pipeline's next run
    fetches it. A ``failing`` record is read by every run anyway: :class:`InvalidStateError`."""
    moment = now() if at is None else at
    return _move(conn, record_id, ParkedStatus.PARKED, {"status": ParkedStatus.PARKED.value, "next_retry_at": moment})


def dismiss_parked(conn: Connection, record_id: int) -> ParkedRecord:
    """An operator's dismissal: the record stays listed (``dismissed``) but is no longer retried."""
    values = {"status": ParkedStatus.DISMISSED.value, "next_retry_at": None}
    return _move(conn, record_id, ParkedStatus.DISMISSED, values)
