"""PostgreSQL driver: production. Workers on many machines share one database.

Locking: fetch claims rows with ``FOR UPDATE SKIP LOCKED`` so concurrent workers take disjoint jobs
without waiting on each other; acknowledgements and failures are batched and guarded by the holder's
``worker_id`` so a worker that lost its lease cannot overwrite the job's new life. Idle workers
``LISTEN conveyor_jobs``; a statement-level trigger NOTIFYs the queues that received work (migration
0001), so one bulk insert wakes workers once. Hot-path connections run in autocommit: one round trip per
statement.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from sqlalchemy import Connection, Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Engine

from conveyor.engine.job import FetchedJob, InsertRow
from conveyor.store.base import Driver, Failure, LostJob, batch_counts
from conveyor.store.queries import chunks
from conveyor.store.queries.schedule_runs import CLAIM_COLS

CHANNEL = "conveyor_jobs"

_INSERT_COLS = (
    "queue, task, args, kwargs, state, priority, max_attempts, timeout, created_at, scheduled_at, "
    "lock_key, unique_key, unique_states, batch_id"
)
_MARKS = ", ".join(["%s"] * 14)
INSERT_ONE = f"INSERT INTO conveyor_jobs ({_INSERT_COLS}) VALUES ({_MARKS}) RETURNING id"
# The conflict target repeats ux_conveyor_jobs_unique's predicate, as PostgreSQL requires for a partial index.
# ON CONFLICT waits for a concurrent inserter of the same key to commit or roll back: exactly one row wins.
_UNIQUE_PREDICATE = "unique_key IS NOT NULL AND strpos(unique_states, ',' || state || ',') > 0"
INSERT_UNIQUE = (
    f"INSERT INTO conveyor_jobs ({_INSERT_COLS}) VALUES ({_MARKS}) "
    f"ON CONFLICT (unique_key) WHERE {_UNIQUE_PREDICATE} DO NOTHING RETURNING id"
)
SELECT_UNIQUE = f"SELECT id FROM conveyor_jobs WHERE unique_key = %s AND {_UNIQUE_PREDICATE}"
ALLOCATE_IDS = "SELECT array_agg(nextval('conveyor_jobs_id_seq')) FROM generate_series(1, %s)"
COPY_JOBS = f"COPY conveyor_jobs (id, {_INSERT_COLS}) FROM STDIN"

# A job whose lock key is held by an executing job is skipped (it stays available, no attempt spent).
# Two fetchers can still race for one key; ix_conveyor_jobs_lock_executing (unique) rejects the loser.
FETCH_AVAILABLE = """
UPDATE conveyor_jobs j
SET state = 'executing', attempt = j.attempt + 1, attempted_at = %(now)s,
    lease_expires_at = %(lease)s, worker_id = %(worker)s, started_at = NULL
FROM (
    SELECT id FROM conveyor_jobs c
    WHERE state = 'available' AND queue = %(queue)s
      AND (c.lock_key IS NULL OR NOT EXISTS (
          SELECT 1 FROM conveyor_jobs e WHERE e.lock_key = c.lock_key AND e.state = 'executing'))
    ORDER BY priority DESC, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
) picked
WHERE j.id = picked.id
RETURNING j.id, j.task, j.args, j.kwargs, j.attempt, j.max_attempts, j.timeout, j.queue, j.priority
"""
# The queue row's lock serialises every fetch of a queue with a global limit, so count-then-claim is atomic.
LOCK_QUEUE_LIMIT = "SELECT global_limit FROM conveyor_queues WHERE name = %s FOR UPDATE"
COUNT_EXECUTING = "SELECT count(*) FROM conveyor_jobs WHERE queue = %s AND state = 'executing'"

COMPLETE = """
UPDATE conveyor_jobs j
SET state = CASE WHEN j.cancel_requested THEN 'cancelled' ELSE 'completed' END,
    finished_at = %(now)s, lease_expires_at = NULL, result = d.result
FROM unnest(%(ids)s::bigint[], %(results)s::text[]) AS d(id, result)
WHERE j.id = d.id AND j.worker_id = %(worker)s AND j.state = 'executing'
RETURNING j.batch_id, j.state
"""
# Jobs outside batches (nearly all) need no batch bookkeeping in their transaction: one autocommit
# statement, one round trip, instead of BEGIN, UPDATE, COMMIT. The rest go through COMPLETE.
COMPLETE_UNBATCHED = """
UPDATE conveyor_jobs j
SET state = CASE WHEN j.cancel_requested THEN 'cancelled' ELSE 'completed' END,
    finished_at = %(now)s, lease_expires_at = NULL, result = d.result
FROM unnest(%(ids)s::bigint[], %(results)s::text[]) AS d(id, result)
WHERE j.id = d.id AND j.worker_id = %(worker)s AND j.state = 'executing' AND j.batch_id IS NULL
RETURNING j.id
"""

FAIL = """
WITH f AS (
    SELECT * FROM unnest(%(ids)s::bigint[], %(attempts)s::int[], %(errors)s::text[],
                         %(tbs)s::text[], %(retry_at)s::float8[]) AS f(id, attempt, error, tb, retry_at)
), u AS (
    UPDATE conveyor_jobs j
    SET state = CASE WHEN j.cancel_requested THEN 'cancelled'
                     WHEN f.retry_at IS NULL THEN 'discarded' ELSE 'retryable' END,
        scheduled_at = coalesce(f.retry_at, j.scheduled_at),
        finished_at = CASE WHEN j.cancel_requested OR f.retry_at IS NULL THEN %(now)s END,
        lease_expires_at = NULL
    FROM f
    WHERE j.id = f.id AND j.worker_id = %(worker)s AND j.state = 'executing'
    RETURNING j.id, j.batch_id, j.state
), e AS (
    INSERT INTO conveyor_job_errors (job_id, attempt, at, error, traceback)
    SELECT f.id, f.attempt, %(now)s, f.error, f.tb FROM f JOIN u ON u.id = f.id
)
SELECT batch_id, state FROM u
"""
SNOOZE = """
UPDATE conveyor_jobs j
SET state = 'scheduled', scheduled_at = d.until, attempt = greatest(j.attempt - 1, 0), lease_expires_at = NULL
FROM unnest(%(ids)s::bigint[], %(until)s::float8[]) AS d(id, until)
WHERE j.id = d.id AND j.worker_id = %(worker)s AND j.state = 'executing'
"""
WRITE_PROGRESS = """
UPDATE conveyor_jobs j SET progress = d.progress
FROM unnest(%(ids)s::bigint[], %(progress)s::text[]) AS d(id, progress)
WHERE j.id = d.id AND j.state = 'executing'
"""
CANCEL_REQUESTED = "SELECT id FROM conveyor_jobs WHERE state = 'executing' AND worker_id = %s AND cancel_requested"

RELEASE = """
UPDATE conveyor_jobs
SET state = 'available', attempt = greatest(attempt - 1, 0), lease_expires_at = NULL, worker_id = NULL
WHERE id = ANY(%(ids)s) AND worker_id = %(worker)s AND state = 'executing'
"""
EXTEND_LEASES = """
UPDATE conveyor_jobs SET lease_expires_at = %(until)s WHERE state = 'executing' AND worker_id = %(worker)s
RETURNING id
"""
MARK_STARTED = """
UPDATE conveyor_jobs j SET started_at = d.at
FROM unnest(%(ids)s::bigint[], %(at)s::float8[]) AS d(id, at)
WHERE j.id = d.id AND j.worker_id = %(worker)s AND j.state = 'executing'
"""
STAGE_DUE = """
UPDATE conveyor_jobs SET state = 'available'
WHERE id IN (
    SELECT id FROM conveyor_jobs
    WHERE state IN ('scheduled', 'retryable') AND scheduled_at <= %(now)s
    FOR UPDATE SKIP LOCKED
)
RETURNING queue
"""
# Rescue locks the lost rows with SKIP LOCKED, so two rescuers never both charge one job; Driver._rescue then
# decides each one's fate in Python (the executor's attempt rule) and writes it in the same transaction.
_LOST_COLS = "id, attempt, max_attempts, crashes, worker_id, started_at IS NOT NULL"
SELECT_EXPIRED = f"""
SELECT {_LOST_COLS} FROM conveyor_jobs WHERE state = 'executing' AND lease_expires_at < %s
FOR UPDATE SKIP LOCKED
"""
SELECT_OF_WORKER = f"""
SELECT {_LOST_COLS} FROM conveyor_jobs WHERE state = 'executing' AND worker_id = %s FOR UPDATE
"""


_NULL = "\\N"
_COPY_SPECIAL = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _esc(value: str) -> str:
    """A text field in COPY text format: backslash, tab, newline and carriage return are escaped."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_COPY_SPECIAL)
    return value


def _esc_json(value: str) -> str:
    """JSON text never holds a raw tab, newline or carriage return (it escapes them), only backslashes."""
    return value.replace("\\", "\\\\") if "\\" in value else value


def _copy_text(ids: list[int], rows: Sequence[InsertRow]) -> str:
    # Rows of one call mostly differ only in id and payload (same queue, task, options and enqueue time):
    # the fields around the payload are formatted again only when they differ from the previous row's.
    out = []
    last_head: tuple[str, str] | None = None
    last_tail: tuple[Any, ...] | None = None
    head = tail = ""
    for i, row in zip(ids, rows, strict=True):
        queue, task, args, kwargs, state, priority, attempts, timeout, created, scheduled, lock, _u, _s, batch = row
        if (queue, task) != last_head:
            last_head = (queue, task)
            head = f"\t{_esc(queue)}\t{_esc(task)}\t"
        key = (state, priority, attempts, timeout, created, scheduled, lock, batch)
        if key != last_tail:
            last_tail = key
            tail = (
                f"\t{state}\t{priority}\t{attempts}\t{_NULL if timeout is None else repr(float(timeout))}\t"
                f"{created!r}\t{scheduled!r}\t{_NULL if lock is None else _esc(lock)}\t{_NULL}\t{_NULL}\t"
                f"{_NULL if batch is None else int(batch)}\n"
            )
        out.append(f"{i}{head}{_esc_json(args)}\t{_esc_json(kwargs)}{tail}")
    return "".join(out)


class PostgresDriver(Driver):
    name = "postgresql"
    placeholder = "%s"

    def __init__(self, engine: Engine, *, synchronous_commit: bool = True) -> None:
        super().__init__(engine)
        self.synchronous_commit = synchronous_commit

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction the database itself keeps read-only: a write inside it is an error, not a
        silent change made through a dashboard's or a report's connection."""
        with super().read() as conn:
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            yield conn

    def connect(self) -> psycopg.Connection[Any]:
        proxied = self.engine.raw_connection()
        conn = proxied.driver_connection
        proxied.detach()  # ours for the life of a worker thread, not returned to the pool
        assert isinstance(conn, psycopg.Connection)
        conn.autocommit = True
        if not self.synchronous_commit:
            conn.execute("SET synchronous_commit = off")
        return conn

    def is_disconnect(self, exc: BaseException) -> bool:
        return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)

    # ------------------------------------------------------------------ enqueue
    def insert_jobs(
        self, conn: psycopg.Connection[Any], rows: Sequence[InsertRow], *, in_transaction: bool = False
    ) -> list[int]:
        if len(rows) == 1:
            return [self._insert_one(conn, rows[0])]
        unique = [k for k, r in enumerate(rows) if r.unique_key]
        # Bulk: allocate ids from the sequence, then COPY; two round trips for any batch size. The COPY
        # text is built here in one pass (psycopg's write_row costs more per row than all the rest).
        # Unique jobs go one by one: each may turn out to be a duplicate.
        if not unique and not in_transaction and conn.autocommit:
            # Ids from the sequence, then one COPY: a statement is its own transaction in autocommit, so
            # the batch is still all or nothing, without the BEGIN and COMMIT round trips.
            allocated: list[int] = conn.execute(ALLOCATE_IDS, (len(rows),)).fetchone()[0]  # type: ignore[index]
            with conn.cursor().copy(COPY_JOBS) as copy:
                copy.write(_copy_text(allocated, rows))
            return allocated
        with conn.transaction():
            plain = [r for r in rows if not r.unique_key] if unique else list(rows)
            ids: list[int] = []
            if plain:
                ids = conn.execute(ALLOCATE_IDS, (len(plain),)).fetchone()[0]  # type: ignore[index]
                with conn.cursor().copy(COPY_JOBS) as copy:
                    copy.write(_copy_text(ids, plain))
            if not unique:
                return ids
            out: list[int] = []
            it = iter(ids)
            for r in rows:
                out.append(self._insert_one(conn, r) if r.unique_key else next(it))
            return out

    def _insert_one(self, conn: psycopg.Connection[Any], row: InsertRow) -> int:
        if not row.unique_key:
            return int(conn.execute(INSERT_ONE, row).fetchone()[0])  # type: ignore[index]
        for _ in range(10):
            got = conn.execute(INSERT_UNIQUE, row).fetchone()
            if got is None:  # a duplicate exists; it may finish before we look, then try again
                got = conn.execute(SELECT_UNIQUE, (row.unique_key,)).fetchone()
            if got is not None:
                return int(got[0])
        raise RuntimeError(f"could not insert or find unique job {row.unique_key!r}")  # pragma: no cover

    # ------------------------------------------------------------------ worker hot path
    def fetch_available(
        self,
        conn: psycopg.Connection[Any],
        queue: str,
        limit: int,
        worker_id: str,
        now: float,
        lease: float,
        global_limit: int | None = None,
    ) -> list[FetchedJob]:
        params = {"now": now, "lease": now + lease, "worker": worker_id, "queue": queue, "limit": limit}
        if global_limit is None:
            return self._claim(conn, params)
        with conn.transaction():
            row = conn.execute(LOCK_QUEUE_LIMIT, (queue,)).fetchone()
            cap = global_limit if row is None or row[0] is None else int(row[0])
            running = int(conn.execute(COUNT_EXECUTING, (queue,)).fetchone()[0])  # type: ignore[index]
            room = min(limit, cap - running)
            if room <= 0:
                return []
            return self._claim(conn, {**params, "limit": room}, nested=True)

    def _claim(self, conn: psycopg.Connection[Any], params: dict[str, Any], nested: bool = False) -> list[FetchedJob]:
        try:
            rows = self._fetch_rows(conn, params, nested)
        except psycopg.errors.UniqueViolation:
            # Two jobs of one lock key in a batch, or a race with another fetcher: one at a time.
            params = {**params, "limit": 1}
            try:
                rows = self._fetch_rows(conn, params, nested)
            except psycopg.errors.UniqueViolation:
                return []
        rows.sort(key=lambda r: (-r[8], r[0]))
        return [FetchedJob(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows]

    @staticmethod
    def _fetch_rows(conn: psycopg.Connection[Any], params: dict[str, Any], nested: bool) -> list[Any]:
        if nested:  # a savepoint inside the global-limit transaction: a failure must not abort that
            with conn.transaction():
                return conn.execute(FETCH_AVAILABLE, params).fetchall()
        # Autocommit: one statement is its own transaction (no BEGIN/COMMIT round trips); a unique
        # violation rolls back just this statement.
        return conn.execute(FETCH_AVAILABLE, params).fetchall()

    def complete_jobs(
        self, conn: psycopg.Connection[Any], done: Sequence[tuple[int, str | None]], worker_id: str, now: float
    ) -> None:
        params = {"now": now, "ids": [d[0] for d in done], "results": [d[1] for d in done], "worker": worker_id}
        finished = {r[0] for r in conn.execute(COMPLETE_UNBATCHED, params)}
        if len(finished) == len(done):
            return
        # In a batch (or no longer ours: then the guarded UPDATE changes nothing).
        rest = [d for d in done if d[0] not in finished]
        params = {**params, "ids": [d[0] for d in rest], "results": [d[1] for d in rest]}
        with conn.transaction():
            changed = conn.execute(COMPLETE, params).fetchall()
            self._settle(conn, changed, now)

    def fail_jobs(self, conn: psycopg.Connection[Any], failures: Sequence[Failure], worker_id: str, now: float) -> None:
        params = {
            "ids": [f.job_id for f in failures],
            "attempts": [f.attempt for f in failures],
            "errors": [f.error for f in failures],
            "tbs": [f.traceback for f in failures],
            "retry_at": [f.retry_at for f in failures],
            "now": now,
            "worker": worker_id,
        }
        with conn.transaction():
            changed = conn.execute(FAIL, params).fetchall()
            self._settle(conn, changed, now)

    def _settle(self, conn: psycopg.Connection[Any], changed: Sequence[Any], now: float) -> None:
        counts = batch_counts([(r[-2], r[-1]) for r in changed if r[-2] is not None])
        if counts:
            self.settle_batches(conn, counts, now)

    def snooze_jobs(self, conn: psycopg.Connection[Any], snoozed: Sequence[tuple[int, float]], worker_id: str) -> None:
        conn.execute(SNOOZE, {"ids": [s[0] for s in snoozed], "until": [s[1] for s in snoozed], "worker": worker_id})

    def write_progress(self, conn: psycopg.Connection[Any], items: Sequence[tuple[int, str]]) -> None:
        conn.execute(WRITE_PROGRESS, {"ids": [i[0] for i in items], "progress": [i[1] for i in items]})

    def cancel_requested_of(self, conn: psycopg.Connection[Any], worker_id: str) -> list[int]:
        return [r[0] for r in conn.execute(CANCEL_REQUESTED, (worker_id,))]

    def release_jobs(self, conn: psycopg.Connection[Any], ids: Sequence[int], worker_id: str) -> int:
        if not ids:
            return 0
        n = conn.execute(RELEASE, {"ids": list(ids), "worker": worker_id}).rowcount
        self.notify(conn, "")
        return n

    def mark_started(self, conn: psycopg.Connection[Any], started: Sequence[tuple[int, float]], worker_id: str) -> None:
        conn.execute(MARK_STARTED, {"ids": [s[0] for s in started], "at": [s[1] for s in started], "worker": worker_id})

    def extend_leases(self, conn: psycopg.Connection[Any], worker_id: str, until: float) -> list[int]:
        return [r[0] for r in conn.execute(EXTEND_LEASES, {"until": until, "worker": worker_id})]

    def stage_due(self, conn: psycopg.Connection[Any], now: float) -> int:
        queues = {q for (q,) in conn.execute(STAGE_DUE, {"now": now})}
        for q in queues:
            self.notify(conn, q)
        return len(queues)

    def rescue_expired(self, conn: psycopg.Connection[Any], now: float, crash_limit: int = 2) -> list[int]:
        with conn.transaction():
            lost = [LostJob(*r) for r in conn.execute(SELECT_EXPIRED, (now,)).fetchall()]
            if lost:
                self._rescue(conn, lost, now, crash_limit, None)
        if lost:
            self.notify(conn, "")
        return [j.id for j in lost]

    def rescue_worker(
        self,
        conn: psycopg.Connection[Any],
        worker_id: str,
        running: Collection[int],
        now: float,
        cause: str,
        crash_limit: int = 2,
    ) -> list[int]:
        with conn.transaction():
            rows = conn.execute(SELECT_OF_WORKER, (worker_id,)).fetchall()
            lost = [LostJob(r[0], r[1], r[2], r[3], r[4], r[0] in running) for r in rows]
            if lost:
                self._rescue(conn, lost, now, crash_limit, cause)
        if lost:
            self.notify(conn, "")
        return [j.id for j in lost]

    # ------------------------------------------------------------------ wake-ups
    def notify(self, conn: Any, queue: str) -> None:
        conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, queue))

    def watch(self, wake: threading.Event, stop: threading.Event) -> None:
        conn = self.connect()
        try:
            conn.execute(f"LISTEN {CHANNEL}")
            while not stop.is_set():
                for _ in conn.notifies(timeout=0.5, stop_after=1):
                    wake.set()
        finally:
            conn.close()

    # ------------------------------------------------------------------ per-table SQL that differs on PostgreSQL
    # The portable SQL of these tables is in conveyor.store.queries; only what PostgreSQL does its own way is here:
    # arrays, so a tick's thousands of rows take one statement.
    SCHEDULE_SET_NEXT_AT = """
    UPDATE conveyor_schedules s SET next_at = n.next_at
    FROM unnest(%s::text[], %s::float8[]) AS n(key, next_at) WHERE s.key = n.key
    """
    # Unnest the columns, insert, return only the rows this statement inserted (the slots it won).
    SCHEDULE_RUN_CLAIM = """
    INSERT INTO conveyor_schedule_runs (schedule_key, slot_at, kind, status, reason, created_at)
    SELECT * FROM unnest(%s::text[], %s::float8[], %s::text[], %s::text[], %s::text[], %s::float8[])
    ON CONFLICT (schedule_key, slot_at) DO NOTHING
    RETURNING id, schedule_key, slot_at
    """
    SCHEDULE_RUN_LINK = """
    UPDATE conveyor_schedule_runs r SET job_id = l.job_id
    FROM unnest(%s::bigint[], %s::bigint[]) AS l(id, job_id) WHERE r.id = l.id
    """

    def insert_ignoring_conflicts(
        self, conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], conflict: Sequence[str]
    ) -> None:
        if rows:
            conn.execute(pg_insert(table).values(list(rows)).on_conflict_do_nothing(index_elements=list(conflict)))

    def schedule_set_next_at(self, conn: Connection, pairs: Sequence[tuple[str, float]]) -> None:
        if not pairs:
            return
        raw = conn.connection.driver_connection
        assert isinstance(raw, psycopg.Connection)
        with raw.cursor() as cur:
            cur.execute(self.SCHEDULE_SET_NEXT_AT, [[k for k, _ in pairs], [t for _, t in pairs]])

    def schedule_run_claim_slots(
        self,
        conn: Connection,
        rows: Sequence[dict[str, Any]],
        enqueue: Callable[[list[dict[str, Any]]], list[int | None]],
    ) -> list[tuple[dict[str, Any], int | None]]:
        # Concurrent schedulers wait on each other's uncommitted rows of the unique index, then conflict:
        # RETURNING yields exactly the slots this transaction inserted.
        if not rows:
            return []
        raw = conn.connection.driver_connection
        assert isinstance(raw, psycopg.Connection)
        by_pair = {(r["schedule_key"], float(r["slot_at"])): r for r in rows}
        won: list[tuple[int, dict[str, Any]]] = []
        with raw.cursor() as cur:
            for chunk in chunks(rows, 5000):
                cur.execute(self.SCHEDULE_RUN_CLAIM, [[r[c] for r in chunk] for c in CLAIM_COLS])
                won += [(int(i), by_pair[(k, float(s))]) for i, k, s in cur.fetchall()]
            job_ids = enqueue([r for _, r in won])
            links = [(rid, j) for (rid, _), j in zip(won, job_ids, strict=True) if j is not None]
            if links:
                cur.execute(self.SCHEDULE_RUN_LINK, [[a for a, _ in links], [b for _, b in links]])
        return [(r, j) for (_, r), j in zip(won, job_ids, strict=True)]
