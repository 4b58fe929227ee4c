"""SQLite driver: the embedded default. Several worker processes on one machine share one file.

Locking: WAL mode lets readers run beside the one writer; every write transaction starts with
``BEGIN IMMEDIATE`` so it takes the write lock up front (a deferred transaction that reads and then
writes can fail with SQLITE_BUSY without waiting). Single-statement writes run in autocommit and are
atomic on their own; ``busy_timeout`` makes a writer wait for the lock instead of failing.
There is no LISTEN/NOTIFY: idle workers watch ``PRAGMA data_version``, which changes whenever another
connection commits, and is cheap enough to read every few milliseconds.

Hot-path writers on one machine queue for SQLite's write lock on a file lock first (``_WriteGate``,
``<database>-conveyor-write.lock``): SQLite's own busy handler polls, sleeping 1, 2, 5, 10… ms between
tries, so two worker processes taking turns at fetching and acknowledging left each other idle for
milliseconds at a time (issue #12: ~30 % of the CPU idle with a backlog). A blocked ``flock`` wakes the
moment the holder releases it. Writers outside the gate (SQLAlchemy transactions, other programs) still
meet ``busy_timeout``, as before.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Table, event
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

from conveyor.engine.job import FetchedJob, InsertRow
from conveyor.store.base import Driver, Failure, LostJob, batch_counts
from conveyor.store.queries.schedule_runs import CLAIM_COLS

BUSY_TIMEOUT_S = 30.0

_INSERT_COLS = (
    "queue, task, args, kwargs, state, priority, max_attempts, timeout, created_at, scheduled_at, "
    "lock_key, unique_key, unique_states, batch_id"
)
INSERT_ONE_PLAIN = f"INSERT INTO conveyor_jobs ({_INSERT_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
INSERT_ONE = f"{INSERT_ONE_PLAIN} RETURNING id"
# A duplicate of a unique job conflicts with ux_conveyor_jobs_unique and inserts nothing.
INSERT_UNIQUE = (
    f"INSERT INTO conveyor_jobs ({_INSERT_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
    "ON CONFLICT DO NOTHING RETURNING id"
)
SELECT_UNIQUE = (
    "SELECT id FROM conveyor_jobs WHERE unique_key = ? AND unique_key IS NOT NULL "
    "AND instr(unique_states, ',' || state || ',') > 0"
)
INSERT_WITH_ID_PREFIX = f"INSERT INTO conveyor_jobs (id, {_INSERT_COLS}) VALUES"
_ROW_MARKS = "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
MULTI_ROWS = 200
INSERT_MANY = f"{INSERT_WITH_ID_PREFIX} {','.join([_ROW_MARKS] * MULTI_ROWS)}"
NEXT_ID = (
    "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'conveyor_jobs'), 0), "
    "coalesce((SELECT max(id) FROM conveyor_jobs), 0))"
)

# One statement, so it is atomic without an explicit transaction; the subquery walks ix_conveyor_jobs_fetch.
# A job whose lock key is held by an executing job is skipped (it stays available, no attempt spent);
# ix_conveyor_jobs_lock_executing (unique) rejects the rare batch that would take two jobs of one key.
# No RETURNING: an autocommit statement with RETURNING commits only after its last row is stepped, and
# Python steps each row with the GIL released and re-taken, so the write lock was held across one GIL
# hand-off per row (each up to the 5 ms switch interval while runner threads are busy). Without it, the
# UPDATE and its commit run in one step; FETCHED then reads the claimed rows back (no lock needed).
FETCH_AVAILABLE = """
UPDATE conveyor_jobs
SET state = 'executing', attempt = attempt + 1, attempted_at = ?, lease_expires_at = ?, worker_id = ?,
    started_at = NULL
WHERE id IN (
    SELECT id FROM conveyor_jobs AS j WHERE state = 'available' AND queue = ?
    AND (lock_key IS NULL OR NOT EXISTS (
        SELECT 1 FROM conveyor_jobs AS e WHERE e.lock_key = j.lock_key AND e.state = 'executing'))
    ORDER BY priority DESC, id LIMIT ?
)
"""
# The rows this worker claimed at ``attempted_at`` = that fetch's ``now``: only this worker's main thread
# fetches for its worker_id, one fetch at a time, and nothing else writes attempted_at of an executing job.
FETCHED = """
SELECT id, task, args, kwargs, attempt, max_attempts, timeout, queue, priority FROM conveyor_jobs
WHERE state = 'executing' AND worker_id = ? AND attempted_at = ? AND queue = ?
"""
GLOBAL_LIMIT_ROOM = """
SELECT q.global_limit - (SELECT count(*) FROM conveyor_jobs WHERE queue = q.name AND state = 'executing')
FROM conveyor_queues AS q WHERE q.name = ?
"""

# The worker_id/state guard makes an acknowledgement from a worker that lost its lease a no-op.
# A job whose cancellation was requested while it ran ends as cancelled, whatever it returned.
# One statement for a whole batch of acknowledgements: ``[[id, result], ...]`` as one JSON parameter, each
# row found by its primary key. Per-row statements cost a GIL hand-off each while the write lock is held
# (the other worker processes wait for it), which left SQLite workers idle under load (issue #12).
COMPLETE = """
UPDATE conveyor_jobs
SET state = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'completed' END,
    finished_at = ?, lease_expires_at = NULL, result = json_extract(d.value, '$[1]')
FROM json_each(?) AS d
WHERE conveyor_jobs.id = json_extract(d.value, '$[0]') AND worker_id = ? AND state = 'executing'
RETURNING batch_id, state
"""
COMPLETE_UNBATCHED = """
UPDATE conveyor_jobs
SET state = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'completed' END,
    finished_at = ?, lease_expires_at = NULL, result = json_extract(d.value, '$[1]')
FROM json_each(?) AS d
WHERE conveyor_jobs.id = json_extract(d.value, '$[0]') AND worker_id = ? AND state = 'executing'
    AND batch_id IS NULL
"""
FAIL = """
UPDATE conveyor_jobs
SET state = CASE WHEN cancel_requested THEN 'cancelled' WHEN ? IS NULL THEN 'discarded' ELSE 'retryable' END,
    scheduled_at = coalesce(?, scheduled_at),
    finished_at = CASE WHEN cancel_requested OR ? IS NULL THEN ? END,
    lease_expires_at = NULL
WHERE id = ? AND worker_id = ? AND state = 'executing'
RETURNING batch_id, state
"""
SNOOZE = """
UPDATE conveyor_jobs
SET state = 'scheduled', scheduled_at = ?, attempt = max(attempt - 1, 0), lease_expires_at = NULL
WHERE id = ? AND worker_id = ? AND state = 'executing'
"""
WRITE_PROGRESS = "UPDATE conveyor_jobs SET progress = ? WHERE id = ? AND state = 'executing'"
CANCEL_REQUESTED = "SELECT id FROM conveyor_jobs WHERE state = 'executing' AND worker_id = ? AND cancel_requested"
INSERT_ERROR = "INSERT INTO conveyor_job_errors (job_id, attempt, at, error, traceback) VALUES (?,?,?,?,?)"
RELEASE = """
UPDATE conveyor_jobs
SET state = 'available', attempt = max(attempt - 1, 0), lease_expires_at = NULL, worker_id = NULL
WHERE id = ? AND worker_id = ? AND state = 'executing'
"""
EXTEND_LEASES = "UPDATE conveyor_jobs SET lease_expires_at = ? WHERE state = 'executing' AND worker_id = ? RETURNING id"
MARK_STARTED = "UPDATE conveyor_jobs SET started_at = ? WHERE id = ? AND worker_id = ? AND state = 'executing'"
STAGE_DUE = """
UPDATE conveyor_jobs SET state = 'available'
WHERE state IN ('scheduled', 'retryable') AND scheduled_at <= ?
"""
# Rescue reads the lost jobs under the write lock, decides each one's fate in Python (Driver._rescue: the
# same attempt rule as the executor) and writes them in the same transaction.
_LOST_COLS = "id, attempt, max_attempts, crashes, worker_id, started_at IS NOT NULL"
SELECT_EXPIRED = f"SELECT {_LOST_COLS} FROM conveyor_jobs WHERE state = 'executing' AND lease_expires_at < ?"
SELECT_OF_WORKER = f"SELECT {_LOST_COLS} FROM conveyor_jobs WHERE state = 'executing' AND worker_id = ?"


def configure_engine(engine: Engine) -> None:
    """Pragmas on every connection, and ``BEGIN IMMEDIATE`` for every SQLAlchemy transaction."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (SQLAlchemy's documented recipe)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")  # durable in WAL mode except on power loss of the OS
        cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Read-only transactions (``Driver.read``: dashboards, the API) stay deferred so they never take
        # the write lock that workers need.
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get("conveyor_read_only") else "BEGIN IMMEDIATE")


class _WriteGate:
    """An exclusive ``flock`` on a file beside the database, held around each hot-path write transaction.

    One descriptor per thread and process (a lock is per open file description: threads sharing one, or a
    forked child sharing its parent's, would not exclude each other)."""

    def __init__(self, database: str | None) -> None:
        in_memory = not database or database == ":memory:" or database.startswith("file::memory:")
        self.path = None if in_memory else f"{database}-conveyor-write.lock"
        self._local = threading.local()

    @contextmanager
    def __call__(self) -> Iterator[None]:
        fd = self.acquire()
        try:
            yield
        finally:
            self.release(fd)

    def acquire(self) -> int | None:
        """Take the gate (blocking); returns what :meth:`release` needs. For hot paths where a context
        manager's generator costs more than the lock itself (a single enqueue: ~2 µs of ~40)."""
        if self.path is None:
            return None
        pid = os.getpid()
        held = getattr(self._local, "file", None)
        if held is None or held[0] != pid:
            # A file object, not a bare descriptor: it is closed when its thread ends and drops it.
            held = self._local.file = (pid, open(self.path, "ab"))  # noqa: SIM115
        fd: int = held[1].fileno()
        fcntl.flock(fd, fcntl.LOCK_EX)  # releases the GIL while it waits
        return fd

    @staticmethod
    def release(fd: int | None) -> None:
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)


class SQLiteDriver(Driver):
    name = "sqlite"

    @property
    def _last_claim(self) -> dict[tuple[str, str], float]:
        """attempted_at of the last fetch per (worker id, queue), made by this process."""
        claims: dict[tuple[str, str], float] | None = self.__dict__.get("_last_claim_")
        if claims is None:
            claims = self.__dict__["_last_claim_"] = {}
        return claims

    @property
    def _gate(self) -> _WriteGate:
        gate: _WriteGate | None = self.__dict__.get("_gate_")
        if gate is None:
            gate = self.__dict__["_gate_"] = _WriteGate(self.engine.url.database)
        return gate

    def connect(self) -> sqlite3.Connection:
        proxied = self.engine.raw_connection()
        conn = proxied.driver_connection
        proxied.detach()  # ours for the life of a worker thread, not returned to the pool
        assert isinstance(conn, sqlite3.Connection)
        return conn

    def is_disconnect(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.OperationalError) and "unable to open" in str(exc)

    @contextmanager
    def _write(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Cursor]:
        with self._gate():
            cur = conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            else:
                cur.execute("COMMIT")
            finally:
                cur.close()

    # ------------------------------------------------------------------ enqueue
    def insert_jobs(
        self, conn: sqlite3.Connection, rows: Sequence[InsertRow], *, in_transaction: bool = False
    ) -> list[int]:
        if in_transaction or len(rows) == 1 or any(r.unique_key for r in rows):
            if in_transaction:
                return [self._insert_one(conn, r) for r in rows]
            if len(rows) == 1 and not rows[0].unique_key:
                # One plain job: a single autocommit statement is its own transaction, without the
                # BEGIN/COMMIT round trips. No RETURNING (see FETCH_AVAILABLE): the INSERT and its commit run
                # in one step, and lastrowid is the new id.
                gate = self._gate
                fd = gate.acquire()
                try:
                    new_id = conn.execute(INSERT_ONE_PLAIN, rows[0]).lastrowid
                finally:
                    gate.release(fd)
                if new_id is None:  # pragma: no cover - SQLite sets it after every INSERT
                    raise RuntimeError("SQLite returned no id for an inserted job")
                return [new_id]
            with self._write(conn):
                return [self._insert_one(conn, r) for r in rows]
        # Bulk: ids are allocated under the write lock, so they are ours and in order; then multi-row
        # INSERTs of MULTI_ROWS rows each (fewer statement executions than executemany).
        with self._write(conn) as cur:
            start = cur.execute(NEXT_ID).fetchone()[0] + 1
            ids = list(range(start, start + len(rows)))
            flat: list[object] = []
            n = 0
            for i, r in zip(ids, rows, strict=True):
                flat.append(i)
                flat.extend(r)
                n += 1
                if n == MULTI_ROWS:
                    cur.execute(INSERT_MANY, flat)
                    flat, n = [], 0
            if n:
                cur.execute(f"{INSERT_WITH_ID_PREFIX} {','.join([_ROW_MARKS] * n)}", flat)
        return ids

    def _insert_one(self, conn: sqlite3.Connection, row: InsertRow) -> int:
        if not row.unique_key:
            return int(conn.execute(INSERT_ONE, row).fetchone()[0])
        # Writes are serialised (we hold the write lock), so between the conflict and the look-up
        # nobody can finish the existing job.
        got = conn.execute(INSERT_UNIQUE, row).fetchone()
        if got is None:
            got = conn.execute(SELECT_UNIQUE, (row.unique_key,)).fetchone()
        return int(got[0])

    # ------------------------------------------------------------------ worker hot path
    def fetch_available(
        self,
        conn: sqlite3.Connection,
        queue: str,
        limit: int,
        worker_id: str,
        now: float,
        lease: float,
        global_limit: int | None = None,
    ) -> list[FetchedJob]:
        if global_limit is not None:
            with self._write(conn) as cur:  # the write lock makes count-then-claim atomic
                room = cur.execute(GLOBAL_LIMIT_ROOM, (queue,)).fetchone()
                limit = min(limit, global_limit if room is None else room[0])
                return self._claim(cur, queue, limit, worker_id, now, lease) if limit > 0 else []
        with self._gate():  # an autocommit UPDATE takes the write lock too
            return self._claim(conn, queue, limit, worker_id, now, lease)

    def _claim(self, conn: Any, queue: str, limit: int, worker_id: str, now: float, lease: float) -> list[FetchedJob]:
        # FETCHED finds this fetch's rows by attempted_at: never reuse the previous fetch's value for this
        # worker and queue (a clock that did not move, e.g. a frozen test clock, would return its jobs again).
        key = (worker_id, queue)
        last = self._last_claim.get(key)
        if last is not None and now <= last:
            now = math.nextafter(last, math.inf)
        self._last_claim[key] = now
        params = [now, now + lease, worker_id, queue, limit]
        try:
            claimed = conn.execute(FETCH_AVAILABLE, params).rowcount
        except sqlite3.IntegrityError:
            # Two jobs with one lock key in the batch: take them one at a time instead.
            params[-1] = 1
            claimed = conn.execute(FETCH_AVAILABLE, params).rowcount
        rows = conn.execute(FETCHED, (worker_id, now, queue)).fetchall() if claimed else []
        rows.sort(key=lambda r: (-r[8], r[0]))
        return [FetchedJob(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows]

    def complete_jobs(
        self, conn: sqlite3.Connection, done: Sequence[tuple[int, str | None]], worker_id: str, now: float
    ) -> None:
        payload = json.dumps(done)
        # Jobs outside batches (nearly all): one autocommit statement without RETURNING, whose commit
        # happens inside its one step (see FETCH_AVAILABLE). The others, or any no longer ours, then go
        # through COMPLETE in a transaction that settles their batches (completed ones no longer match).
        with self._gate():
            if conn.execute(COMPLETE_UNBATCHED, (now, payload, worker_id)).rowcount == len(done):
                return
        with self._write(conn) as cur:
            changed = cur.execute(COMPLETE, (now, payload, worker_id)).fetchall()
            self._settle(cur, changed, now)

    def fail_jobs(self, conn: sqlite3.Connection, failures: Sequence[Failure], worker_id: str, now: float) -> None:
        with self._write(conn) as cur:
            changed = []
            for f in failures:
                row = cur.execute(FAIL, (f.retry_at, f.retry_at, f.retry_at, now, f.job_id, worker_id)).fetchone()
                if row is not None:  # only while we still hold it; a rescued job is someone else's now
                    cur.execute(INSERT_ERROR, (f.job_id, f.attempt, now, f.error, f.traceback))
                    changed.append(row)
            self._settle(cur, changed, now)

    def _settle(self, cur: sqlite3.Cursor, changed: Sequence[Any], now: float) -> None:
        counts = batch_counts([r for r in changed if r is not None and r[0] is not None])
        if counts:
            self.settle_batches(cur.connection, counts, now)

    def snooze_jobs(self, conn: sqlite3.Connection, snoozed: Sequence[tuple[int, float]], worker_id: str) -> None:
        with self._write(conn) as cur:
            cur.executemany(SNOOZE, [(until, job_id, worker_id) for job_id, until in snoozed])

    def write_progress(self, conn: sqlite3.Connection, items: Sequence[tuple[int, str]]) -> None:
        with self._write(conn) as cur:
            cur.executemany(WRITE_PROGRESS, [(progress, job_id) for job_id, progress in items])

    def cancel_requested_of(self, conn: sqlite3.Connection, worker_id: str) -> list[int]:
        return [r[0] for r in conn.execute(CANCEL_REQUESTED, (worker_id,))]

    def release_jobs(self, conn: sqlite3.Connection, ids: Sequence[int], worker_id: str) -> int:
        if not ids:
            return 0
        with self._write(conn) as cur:
            cur.executemany(RELEASE, [(i, worker_id) for i in ids])
            return cur.rowcount

    def mark_started(self, conn: sqlite3.Connection, started: Sequence[tuple[int, float]], worker_id: str) -> None:
        with self._write(conn) as cur:
            cur.executemany(MARK_STARTED, [(at, job_id, worker_id) for job_id, at in started])

    def extend_leases(self, conn: sqlite3.Connection, worker_id: str, until: float) -> list[int]:
        with self._gate():
            return [r[0] for r in conn.execute(EXTEND_LEASES, (until, worker_id)).fetchall()]

    def stage_due(self, conn: sqlite3.Connection, now: float) -> int:
        with self._gate():
            return conn.execute(STAGE_DUE, (now,)).rowcount

    def rescue_expired(self, conn: sqlite3.Connection, now: float, crash_limit: int = 2) -> list[int]:
        with self._write(conn) as cur:
            lost = [LostJob(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in cur.execute(SELECT_EXPIRED, (now,))]
            self._rescue(cur, lost, now, crash_limit, None)
        return [j.id for j in lost]

    def rescue_worker(
        self,
        conn: sqlite3.Connection,
        worker_id: str,
        running: Collection[int],
        now: float,
        cause: str,
        crash_limit: int = 2,
    ) -> list[int]:
        with self._write(conn) as cur:
            rows = cur.execute(SELECT_OF_WORKER, (worker_id,)).fetchall()
            lost = [LostJob(r[0], r[1], r[2], r[3], r[4], r[0] in running) for r in rows]
            self._rescue(cur, lost, now, crash_limit, cause)
        return [j.id for j in lost]

    # ------------------------------------------------------------------ wake-ups
    def watch(
        self,
        wake: threading.Event,
        stop: threading.Event,
        interval: float = 0.005,
        fast_interval: float = 0.001,
        fast_for: float = 2.0,
    ) -> None:
        """Set ``wake`` whenever another connection commits. Runs until ``stop`` is set.

        Polls every ``fast_interval`` for ``fast_for`` seconds after the last change it saw (work is
        arriving: a new job waits 0.5 ms on average instead of 2.5 ms), every ``interval`` after that (an
        idle worker: a poll costs a few µs, but 1,000 a second cost ~13 % of a core on a 2-core machine)."""
        conn = self.connect()
        try:
            version = conn.execute("PRAGMA data_version").fetchone()[0]
            changed = float("-inf")
            while not stop.wait(fast_interval if time.monotonic() - changed < fast_for else interval):
                current = conn.execute("PRAGMA data_version").fetchone()[0]
                if current != version:
                    version = current
                    changed = time.monotonic()
                    wake.set()
        finally:
            conn.close()

    # ------------------------------------------------------------------ per-table SQL that differs on SQLite
    # The portable SQL of these tables is in conveyor.store.queries; only what SQLite does its own way is here.
    SCHEDULE_SET_NEXT_AT = "UPDATE conveyor_schedules SET next_at = ? WHERE key = ?"
    SCHEDULE_RUN_CLAIM = """
    INSERT INTO conveyor_schedule_runs (schedule_key, slot_at, kind, status, reason, created_at, job_id)
    VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (schedule_key, slot_at) DO NOTHING
    """

    def insert_ignoring_conflicts(
        self, conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], conflict: Sequence[str]
    ) -> None:
        if rows:
            conn.execute(sqlite_insert(table).values(list(rows)).on_conflict_do_nothing(index_elements=list(conflict)))

    def schedule_set_next_at(self, conn: Connection, pairs: Sequence[tuple[str, float]]) -> None:
        # One prepared statement run per pair on the raw connection: no SQLAlchemy work per row.
        if not pairs:
            return
        raw = conn.connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        raw.executemany(self.SCHEDULE_SET_NEXT_AT, [(t, k) for k, t in pairs])

    def schedule_run_claim_slots(
        self,
        conn: Connection,
        rows: Sequence[dict[str, Any]],
        enqueue: Callable[[list[dict[str, Any]]], list[int | None]],
    ) -> list[tuple[dict[str, Any], int | None]]:
        # The tick's transaction holds the write lock since BEGIN IMMEDIATE, so which slots are already
        # claimed cannot change under us: read them, enqueue the rest, insert runs with their job ids.
        if not rows:
            return []
        taken = self.schedule_run_claimed(conn, [(r["schedule_key"], float(r["slot_at"])) for r in rows])
        free = [r for r in rows if (r["schedule_key"], float(r["slot_at"])) not in taken]
        job_ids = enqueue(free)
        raw = conn.connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        raw.executemany(
            self.SCHEDULE_RUN_CLAIM, [[r[c] for c in CLAIM_COLS] + [j] for r, j in zip(free, job_ids, strict=True)]
        )
        return list(zip(free, job_ids, strict=True))
