"""Named locks held in the database: mutual exclusion across threads, processes and machines.

A lock is a row of ``conveyor_locks``: its key, a random owner token, who holds it (host:pid and the
job, for people reading ``conveyor locks list``), and when it expires. Holding it needs no open
connection or transaction, so a lock can outlive many short transactions (a ten-minute snapshot) and
costs the database nothing while held. If the holder dies, the row simply expires and the next
acquirer takes it over; a holder that works longer than its TTL calls :meth:`Lock.extend`.

Correctness rests on two statements, which the driver runs (:mod:`conveyor.store.queries.locks`, the
``lock_*`` methods every driver has; the shared driver suite checks them on every database):

* acquire is one atomic upsert: insert the row, or take it over only when it has expired. PostgreSQL
  and SQLite (3.35+) both run ``INSERT ... ON CONFLICT ... DO UPDATE ... WHERE`` as a single step that
  locks the conflicting row, so two acquirers can never both win;
* release and extend match the owner token, so a holder whose lock expired and was taken over can
  never release or extend the new holder's lock.

This module keeps what is not SQL: owner tokens, TTLs, waiting with back-off, and the messages.

Expiry is judged by the clients' clocks (:mod:`conveyor.engine.clock`), as job leases are: machines
sharing a PostgreSQL database should run NTP, and TTLs should be far longer than any clock skew.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import secrets
import socket
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

from conveyor.engine import clock
from conveyor.errors import LockLost, LockNotAcquired
from conveyor.store.queries.locks import LockInfo

if TYPE_CHECKING:
    from conveyor.app import Conveyor

log = logging.getLogger("conveyor.locks")

#: How waiting for a busy lock sleeps; tests replace it (with one that moves a fake clock).
_sleep: Callable[[float], None] = time.sleep

#: Polling a busy lock starts this fast, doubles, and never sleeps longer than the cap: a lock freed by
#: its holder is noticed within about ``_POLL_MAX`` seconds without hammering the database.
_POLL_MIN, _POLL_MAX = 0.01, 0.25


def _check_key(key: object) -> str:
    if not isinstance(key, str) or not key.strip():
        raise ValueError(f"a lock key must be a non-empty string, got {key!r}")
    if len(key) > 255:
        raise ValueError(f"a lock key is at most 255 characters, got {len(key)}: {key[:40]!r}…")
    return key


def _check_ttl(ttl: object) -> float:
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not math.isfinite(ttl) or ttl <= 0:
        raise ValueError(f"lock ttl must be a number of seconds > 0, got {ttl!r}")
    return float(ttl)


def holder_name() -> str:
    """Who is acquiring, for people reading the lock table: ``host:pid``, plus the job inside a task."""
    from conveyor.worker.context import _current

    name = f"{socket.gethostname()}:{os.getpid()}"
    job = _current.get()
    if job is not None:
        name += f" job {job.id} ({job.task})"
    return name[:255]


class Lock:
    """A named lock in the database. Create it with :meth:`Conveyor.lock`.

    ``with app.lock("snapshot:acme:orders", ttl=600) as lock: ...`` acquires on entry (raising
    :class:`~conveyor.errors.LockNotAcquired` if it is busy for longer than ``wait`` seconds) and
    releases on exit. ``async with`` works the same, running the database calls in a thread.
    A :class:`Lock` object is for one thread of control; locks are not re-entrant.
    """

    def __init__(self, app: Conveyor, key: str, *, ttl: float = 60.0, wait: float = 0.0) -> None:
        self.app = app
        self.key = _check_key(key)
        self.ttl = _check_ttl(ttl)
        if isinstance(wait, bool) or not isinstance(wait, int | float) or not math.isfinite(wait) or wait < 0:
            raise ValueError(f"lock wait must be a number of seconds >= 0, got {wait!r}")
        self.wait = float(wait)
        #: The random token that proves ownership; a new one per acquisition.
        self.owner: str | None = None
        self.holder: str | None = None
        self.expires_at: float | None = None

    def __repr__(self) -> str:
        return f"<Lock {self.key!r} {'held' if self.held else 'not held'}>"

    @property
    def held(self) -> bool:
        """Whether this object holds the lock, as far as it knows: from acquire until release or until
        its TTL runs out. It does not ask the database; :meth:`extend` does, raising ``LockLost``."""
        return self.owner is not None and self.expires_at is not None and clock.now() < self.expires_at

    # ------------------------------------------------------------------ acquire
    def acquire(self) -> Lock:
        """Take the lock, waiting up to ``wait`` seconds (polling with backoff) while someone else
        holds it. Raises :class:`~conveyor.errors.LockNotAcquired` naming the holder and since when."""
        if self.held:
            raise RuntimeError(f"lock {self.key!r} is already held by this Lock: release it first")
        deadline = clock.now() + self.wait
        delay = _POLL_MIN
        while True:
            busy = self._try_acquire()
            if busy is None:
                return self
            remaining = deadline - clock.now()
            if remaining <= 0:
                raise LockNotAcquired(self.key, *busy)
            _sleep(min(delay, remaining))
            delay = min(delay * 2, _POLL_MAX)

    def _try_acquire(self) -> tuple[str | None, float | None] | None:
        """One attempt. None when acquired; otherwise who holds the lock and since when."""
        owner, holder, now = secrets.token_hex(16), holder_name(), clock.now()
        busy = self.app.driver.lock_acquire(self.key, owner, holder, now, now + self.ttl)
        if busy is None:
            self.owner, self.holder, self.expires_at = owner, holder, now + self.ttl
        return busy

    # ------------------------------------------------------------------ extend / release
    def extend(self, ttl: float | None = None) -> None:
        """Push the expiry to ``ttl`` seconds from now (default: the lock's TTL).

        Raises :class:`~conveyor.errors.LockLost` if another owner has taken the lock since (it expired
        first) or an operator force-released it. A lock that expired but that nobody took is extended:
        no one else held it meanwhile, so exclusion was never broken."""
        new_ttl = self.ttl if ttl is None else _check_ttl(ttl)
        if self.owner is None:
            raise LockLost(f"lock {self.key!r} is not held by this Lock: acquire it before extending")
        expires_at = clock.now() + new_ttl
        if not self.app.driver.lock_extend(self.key, self.owner, expires_at):
            self.owner = self.expires_at = None
            raise LockLost(
                f"lock {self.key!r} was lost before extend: it expired and was taken by someone else, "
                "or it was force-released; extend more often or use a longer ttl"
            )
        self.expires_at = expires_at

    def release(self) -> bool:
        """Give the lock up. False (and a warning in the log) if it was already lost: it expired and
        was taken over, or was force-released. Releasing a lock that was never acquired returns False."""
        owner, self.owner, self.expires_at = self.owner, None, None
        if owner is None:
            return False
        released = self.app.driver.lock_release(self.key, owner)
        if not released:
            log.warning("lock %r was lost before release (expired and taken over, or force-released)", self.key)
        return released

    # ------------------------------------------------------------------ context managers
    def __enter__(self) -> Lock:
        return self.acquire()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    async def __aenter__(self) -> Lock:
        return await asyncio.to_thread(self.acquire)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.release)


# ---------------------------------------------------------------------- operators (CLI)
def list_locks(app: Conveyor) -> list[LockInfo]:
    """Every lock row, by key; expired ones included (a holder that died and nobody took over yet)."""
    return app.driver.lock_list()


def force_release(app: Conveyor, key: str) -> bool:
    """Delete a lock whoever holds it (for operators). False if there was no such lock. The holder
    finds out on its next :meth:`Lock.extend` (``LockLost``) or release (a warning)."""
    return app.driver.lock_force_release(key)


__all__ = ["Lock", "LockInfo", "force_release", "holder_name", "list_locks"]
