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
from collections.abc import Sequence
from typing import Any

import psycopg
from sqlalchemy.engine import Engine

from conveyor.engine.job import FetchedJob, InsertRow
from conveyor.store.base import Driver, Failure
from conveyor.store.sqlite import worker_lost_message

CHANNEL = "conveyor_jobs"

_INSERT_COLS = "queue, task, args, kwargs, state, priority, max_attempts, timeout, created_at, scheduled_at"
INSERT_ONE = f"INSERT INTO conveyor_jobs ({_INSERT_COLS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id"
ALLOCATE_IDS = "SELECT array_agg(nextval('conveyor_jobs_id_seq')) FROM generate_series(1, %s)"
COPY_JOBS = f"COPY conveyor_jobs (id, {_INSERT_COLS}) FROM STDIN"

FETCH_AVAILABLE = """
UPDATE conveyor_jobs j
SET state = 'executing', attempt = j.attempt + 1, attempted_at = %(now)s,
    lease_expires_at = %(lease)s, worker_id = %(worker)s
FROM (
    SELECT id FROM conveyor_jobs
    WHERE state = 'available' AND queue = %(queue)s
    ORDER BY priority DESC, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
) picked
WHERE j.id = picked.id
RETURNING j.id, j.task, j.args, j.kwargs, j.attempt, j.max_attempts, j.timeout, j.queue, j.priority
"""

COMPLETE = """
UPDATE conveyor_jobs j
SET state = 'completed', finished_at = %(now)s, lease_expires_at = NULL, result = d.result
FROM unnest(%(ids)s::bigint[], %(results)s::text[]) AS d(id, result)
WHERE j.id = d.id AND j.worker_id = %(worker)s AND j.state = 'executing'
"""

FAIL = """
WITH f AS (
    SELECT * FROM unnest(%(ids)s::bigint[], %(attempts)s::int[], %(errors)s::text[],
                         %(tbs)s::text[], %(retry_at)s::float8[]) AS f(id, attempt, error, tb, retry_at)
), u AS (
    UPDATE conveyor_jobs j
    SET state = CASE WHEN f.retry_at IS NULL THEN 'discarded' ELSE 'retryable' END,
        scheduled_at = coalesce(f.retry_at, j.scheduled_at),
        finished_at = CASE WHEN f.retry_at IS NULL THEN %(now)s END,
        lease_expires_at = NULL
    FROM f
    WHERE j.id = f.id AND j.worker_id = %(worker)s AND j.state = 'executing'
    RETURNING j.id
)
INSERT INTO conveyor_job_errors (job_id, attempt, at, error, traceback)
SELECT f.id, f.attempt, %(now)s, f.error, f.tb FROM f JOIN u ON u.id = f.id
"""

RELEASE = """
UPDATE conveyor_jobs
SET state = 'available', attempt = greatest(attempt - 1, 0), lease_expires_at = NULL, worker_id = NULL
WHERE id = ANY(%(ids)s) AND worker_id = %(worker)s AND state = 'executing'
"""
EXTEND_LEASES = """
UPDATE conveyor_jobs SET lease_expires_at = %(until)s WHERE state = 'executing' AND worker_id = %(worker)s
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
# Rows are locked with SKIP LOCKED so two rescuers never both record "worker lost" for one job.
RESCUE = """
WITH lost AS (
    SELECT id, worker_id FROM conveyor_jobs
    WHERE state = 'executing' AND lease_expires_at < %(now)s
    FOR UPDATE SKIP LOCKED
), u AS (
    UPDATE conveyor_jobs j
    SET state = CASE WHEN j.attempt >= j.max_attempts THEN 'discarded' ELSE 'available' END,
        finished_at = CASE WHEN j.attempt >= j.max_attempts THEN %(now)s END,
        scheduled_at = %(now)s, lease_expires_at = NULL
    FROM lost WHERE j.id = lost.id
    RETURNING j.id, j.attempt, lost.worker_id
)
SELECT id, attempt, worker_id FROM u
"""
INSERT_ERROR = "INSERT INTO conveyor_job_errors (job_id, attempt, at, error, traceback) VALUES (%s, %s, %s, %s, %s)"


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
    names: dict[str, str] = {}  # queue and task names repeat: escape each once
    out = []
    for i, (queue, task, args, kwargs, state, priority, attempts, timeout, created, scheduled) in zip(
        ids, rows, strict=True
    ):
        q = names.get(queue) or names.setdefault(queue, _esc(queue))
        t = names.get(task) or names.setdefault(task, _esc(task))
        out.append(
            f"{i}\t{q}\t{t}\t{_esc_json(args)}\t{_esc_json(kwargs)}\t{state}\t{priority}\t{attempts}\t"
            f"{_NULL if timeout is None else repr(float(timeout))}\t{created!r}\t{scheduled!r}\n"
        )
    return "".join(out)


class PostgresDriver(Driver):
    name = "postgresql"

    def __init__(self, engine: Engine, *, synchronous_commit: bool = True) -> None:
        super().__init__(engine)
        self.synchronous_commit = synchronous_commit

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
            return [conn.execute(INSERT_ONE, rows[0]).fetchone()[0]]  # type: ignore[index]
        # Bulk: allocate ids from the sequence, then COPY; two round trips for any batch size. The COPY
        # text is built here in one pass (psycopg's write_row costs more per row than all the rest).
        with conn.transaction():
            ids: list[int] = conn.execute(ALLOCATE_IDS, (len(rows),)).fetchone()[0]  # type: ignore[index]
            with conn.cursor().copy(COPY_JOBS) as copy:
                copy.write(_copy_text(ids, rows))
        return ids

    # ------------------------------------------------------------------ worker hot path
    def fetch_available(
        self, conn: psycopg.Connection[Any], queue: str, limit: int, worker_id: str, now: float, lease: float
    ) -> list[FetchedJob]:
        rows = conn.execute(
            FETCH_AVAILABLE,
            {"now": now, "lease": now + lease, "worker": worker_id, "queue": queue, "limit": limit},
        ).fetchall()
        rows.sort(key=lambda r: (-r[8], r[0]))
        return [FetchedJob(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows]

    def complete_jobs(
        self,
        conn: psycopg.Connection[Any],
        done: Sequence[tuple[int, str | None]],
        worker_id: str,
        now: float,
    ) -> None:
        conn.execute(
            COMPLETE,
            {"now": now, "ids": [d[0] for d in done], "results": [d[1] for d in done], "worker": worker_id},
        )

    def fail_jobs(self, conn: psycopg.Connection[Any], failures: Sequence[Failure], worker_id: str, now: float) -> None:
        conn.execute(
            FAIL,
            {
                "ids": [f.job_id for f in failures],
                "attempts": [f.attempt for f in failures],
                "errors": [f.error for f in failures],
                "tbs": [f.traceback for f in failures],
                "retry_at": [f.retry_at for f in failures],
                "now": now,
                "worker": worker_id,
            },
        )

    def release_jobs(self, conn: psycopg.Connection[Any], ids: Sequence[int], worker_id: str) -> int:
        if not ids:
            return 0
        n = conn.execute(RELEASE, {"ids": list(ids), "worker": worker_id}).rowcount
        self.notify(conn, "")
        return n

    def extend_leases(self, conn: psycopg.Connection[Any], worker_id: str, until: float) -> int:
        return conn.execute(EXTEND_LEASES, {"until": until, "worker": worker_id}).rowcount

    def stage_due(self, conn: psycopg.Connection[Any], now: float) -> int:
        queues = {q for (q,) in conn.execute(STAGE_DUE, {"now": now})}
        for q in queues:
            self.notify(conn, q)
        return len(queues)

    def rescue_expired(self, conn: psycopg.Connection[Any], now: float) -> list[int]:
        with conn.transaction():
            lost = conn.execute(RESCUE, {"now": now}).fetchall()
            if lost:
                with conn.cursor() as cur:
                    cur.executemany(
                        INSERT_ERROR,
                        [(i, attempt, now, worker_lost_message(w), None) for i, attempt, w in lost],
                    )
        if lost:
            self.notify(conn, "")
        return [r[0] for r in lost]

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
