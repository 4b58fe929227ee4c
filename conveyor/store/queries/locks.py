"""``conveyor_locks``: named locks (see :mod:`conveyor.coordination.locks` for waiting, TTLs and holders).

A row is a held lock: its key, the holder's random owner token, a holder description and an expiry. The SQL
is the same on every database: PostgreSQL and SQLite (3.35+) both run ``INSERT … ON CONFLICT … DO UPDATE
… WHERE … RETURNING`` as one statement that locks the conflicting row, so acquire needs no override.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select, text

from conveyor.store import schema
from conveyor.store.queries.base import TableQueries

L = schema.locks

# One statement, so it is atomic: insert, or take over a row only if it has expired. When the row is live,
# the WHERE is false, nothing is updated and RETURNING yields no row. Both databases lock the conflicting
# row for the rest of the transaction (PostgreSQL locks it even when the WHERE is false; SQLite holds the
# database write lock), so reading its holder next, in the same transaction, sees the same holder.
ACQUIRE = text(
    """
    INSERT INTO conveyor_locks (key, owner, holder, acquired_at, expires_at)
    VALUES (:key, :owner, :holder, :now, :expires_at)
    ON CONFLICT (key) DO UPDATE
    SET owner = excluded.owner, holder = excluded.holder,
        acquired_at = excluded.acquired_at, expires_at = excluded.expires_at
    WHERE conveyor_locks.expires_at <= excluded.acquired_at
    RETURNING owner
    """
)
# The owner token guards both: a holder whose lock expired and was taken over cannot touch the new holder's.
EXTEND = text("UPDATE conveyor_locks SET expires_at = :expires_at WHERE key = :key AND owner = :owner")
RELEASE = text("DELETE FROM conveyor_locks WHERE key = :key AND owner = :owner")


@dataclass(frozen=True, slots=True)
class LockInfo:
    """One row of the lock table, as ``conveyor locks list`` shows it."""

    key: str
    holder: str
    acquired_at: float
    expires_at: float


class LockQueries(TableQueries):
    """Named locks. Every method is one short transaction of its own: holding a lock holds no connection."""

    def lock_acquire(
        self, key: str, owner: str, holder: str, now: float, expires_at: float
    ) -> tuple[str | None, float | None] | None:
        """Take ``key`` for ``owner`` if nobody holds it or its holder's lock expired (``expires_at <= now``).

        None when ``owner`` now holds it; otherwise ``(holder, acquired_at)`` of whoever does. Of two
        concurrent acquirers exactly one gets None."""
        params = {"key": key, "owner": owner, "holder": holder, "now": now, "expires_at": expires_at}
        with self.begin() as c:
            if c.execute(ACQUIRE, params).first() is not None:
                return None
            row = c.execute(select(L.c.holder, L.c.acquired_at).where(L.c.key == key)).first()
        # The row is locked by our upsert until commit, so it is there; the fallback is for safety only.
        return (row[0], row[1]) if row is not None else (None, None)

    def lock_extend(self, key: str, owner: str, expires_at: float) -> bool:
        """Move the expiry of ``key`` to ``expires_at`` if ``owner`` still holds it (even if it expired and
        nobody took it). False: someone else took it over, or it was force-released."""
        with self.begin() as c:
            return bool(c.execute(EXTEND, {"key": key, "owner": owner, "expires_at": expires_at}).rowcount == 1)

    def lock_release(self, key: str, owner: str) -> bool:
        """Delete ``key`` if ``owner`` holds it. False: it was already lost (taken over or force-released)."""
        with self.begin() as c:
            return bool(c.execute(RELEASE, {"key": key, "owner": owner}).rowcount == 1)

    def lock_list(self) -> list[LockInfo]:
        """Every lock row by key, expired ones included (a dead holder's lock that nobody took over yet)."""
        with self.read() as c:
            rows = c.execute(select(L.c.key, L.c.holder, L.c.acquired_at, L.c.expires_at).order_by(L.c.key)).all()
        return [LockInfo(*r) for r in rows]

    def lock_force_release(self, key: str) -> bool:
        """Delete ``key`` whoever holds it (operators). False if there was no such lock."""
        with self.begin() as c:
            return bool(c.execute(delete(L).where(L.c.key == key)).rowcount == 1)
