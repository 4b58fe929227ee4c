"""The scheduler's SQL, in one place. Portable SQLAlchemy Core; the one dialect difference (INSERT … ON
CONFLICT DO NOTHING) is chosen here from the connection.

Locking: every write runs in one transaction per tick (SQLite: ``BEGIN IMMEDIATE``, so ticks on one file
are serialised; PostgreSQL: READ COMMITTED). Exactly-once per slot does not depend on that: it rests on the
unique index ``ux_conveyor_schedule_runs_slot``. A second scheduler inserting the same ``(key, slot)`` either
waits for the first one's commit (PostgreSQL) or runs after it (SQLite), then conflicts and inserts nothing,
so only the claim's winner enqueues the job, in the same transaction as the claim.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, case, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from conveyor.engine.states import JobState
from conveyor.scheduler.schema import runs, schedules
from conveyor.store import schema as engine_schema

J = engine_schema.jobs
R = runs
S = schedules
S_ = JobState
ACTIVE_JOB_STATES = [S_.SCHEDULED, S_.AVAILABLE, S_.EXECUTING, S_.RETRYABLE]
CHUNK = 500


def _chunks(rows: Sequence[Any], n: int = CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(rows), n):
        yield rows[i : i + n]


def _insert_ignore(conn: Connection, table: Any) -> Any:
    ins = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    return ins(table)


# ---------------------------------------------------------------------- catalog rows
def load_schedules(conn: Connection, keys: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    q = select(S)
    if keys is not None:
        q = q.where(S.c.key.in_(list(keys)))
    return {r["key"]: dict(r) for r in conn.execute(q).mappings()}


def insert_schedules(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert new catalog rows; a row another process inserted meanwhile is left as it is."""
    for chunk in _chunks(rows):
        conn.execute(_insert_ignore(conn, S).values(list(chunk)).on_conflict_do_nothing(index_elements=["key"]))


def update_schedules(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Update catalog rows by key; every dict has the same keys, ``b_key`` naming the row."""
    if not rows:
        return
    cols = [c for c in rows[0] if c != "b_key"]
    stmt = update(S).where(S.c.key == bindparam("b_key")).values({c: bindparam(c) for c in cols})
    for chunk in _chunks(rows, 5000):
        conn.execute(stmt, list(chunk))


def due_schedules(conn: Connection, now: float, everything: bool) -> list[dict[str, Any]]:
    """Active schedules whose next slot is due (``everything``: all active ones, for ``--now``)."""
    q = select(S).where(S.c.next_at.is_not(None))
    if not everything:
        q = q.where(S.c.next_at <= now)
    return [dict(r) for r in conn.execute(q).mappings()]


def next_due_at(conn: Connection) -> float | None:
    value = conn.execute(select(func.min(S.c.next_at))).scalar()
    return None if value is None else float(value)


def set_next_at(conn: Connection, pairs: Sequence[tuple[str, float]]) -> None:
    """Store each schedule's next slot (one prepared statement or one array update for the batch)."""
    if not pairs:
        return
    raw = conn.connection.driver_connection
    assert raw is not None
    cur = raw.cursor()
    try:
        if conn.dialect.name == "postgresql":
            cur.execute(NEXT_AT_PG, [[k for k, _ in pairs], [t for _, t in pairs]])
        else:
            cur.executemany(NEXT_AT_SQLITE, [(t, k) for k, t in pairs])
    finally:
        cur.close()


# ---------------------------------------------------------------------- runs
_CLAIM_COLS = ("schedule_key", "slot_at", "kind", "status", "reason", "created_at")
# PostgreSQL: one statement per batch: unnest the columns, insert, return only the rows this call inserted.
CLAIM_PG = """
INSERT INTO conveyor_schedule_runs (schedule_key, slot_at, kind, status, reason, created_at)
SELECT * FROM unnest(%s::text[], %s::float8[], %s::text[], %s::text[], %s::text[], %s::float8[])
ON CONFLICT (schedule_key, slot_at) DO NOTHING
RETURNING id, schedule_key, slot_at
"""
LINK_PG = """
UPDATE conveyor_schedule_runs r SET job_id = l.job_id
FROM unnest(%s::bigint[], %s::bigint[]) AS l(id, job_id) WHERE r.id = l.id
"""
CLAIM_SQLITE = """
INSERT INTO conveyor_schedule_runs (schedule_key, slot_at, kind, status, reason, created_at, job_id)
VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (schedule_key, slot_at) DO NOTHING
"""
NEXT_AT_PG = """
UPDATE conveyor_schedules s SET next_at = n.next_at
FROM unnest(%s::text[], %s::float8[]) AS n(key, next_at) WHERE s.key = n.key
"""
NEXT_AT_SQLITE = "UPDATE conveyor_schedules SET next_at = ? WHERE key = ?"


def claim_slots(
    conn: Connection,
    rows: Sequence[dict[str, Any]],
    enqueue: Callable[[list[dict[str, Any]]], list[int | None]],
) -> list[tuple[dict[str, Any], int | None]]:
    """Claim cron slots (one unique run row each) and enqueue the jobs of the slots this call won.

    ``enqueue`` gets the won rows and returns a job id per row (None for a skipped slot); the runs are linked
    to their jobs in the same transaction. Returns ``(row, job id)`` for every slot won.
    """
    if not rows:
        return []
    raw = conn.connection.driver_connection
    assert raw is not None
    cur = raw.cursor()
    try:
        if conn.dialect.name == "postgresql":
            # Concurrent schedulers wait on each other's uncommitted rows of the unique index, then conflict:
            # RETURNING yields exactly the slots this transaction inserted.
            by_pair = {(r["schedule_key"], float(r["slot_at"])): r for r in rows}
            won: list[tuple[int, dict[str, Any]]] = []
            for chunk in _chunks(rows, 5000):
                cur.execute(CLAIM_PG, [[r[c] for r in chunk] for c in _CLAIM_COLS])
                won += [(int(i), by_pair[(k, float(s))]) for i, k, s in cur.fetchall()]
            job_ids = enqueue([r for _, r in won])
            links = [(rid, j) for (rid, _), j in zip(won, job_ids, strict=True) if j is not None]
            if links:
                cur.execute(LINK_PG, [[a for a, _ in links], [b for _, b in links]])
            return [(r, j) for (_, r), j in zip(won, job_ids, strict=True)]
        # SQLite: the tick's transaction holds the write lock since BEGIN IMMEDIATE, so which slots are
        # already claimed cannot change under us: read them, enqueue the rest, insert runs with their job ids.
        taken = claimed_slots(conn, [(r["schedule_key"], float(r["slot_at"])) for r in rows])
        free = [r for r in rows if (r["schedule_key"], float(r["slot_at"])) not in taken]
        job_ids = enqueue(free)
        cur.executemany(CLAIM_SQLITE, [[r[c] for c in _CLAIM_COLS] + [j] for r, j in zip(free, job_ids, strict=True)])
        return list(zip(free, job_ids, strict=True))
    finally:
        cur.close()


def claimed_slots(conn: Connection, pairs: Sequence[tuple[str, float]]) -> set[tuple[str, float]]:
    """Which of these ``(key, slot)`` pairs are already claimed (for dry runs)."""
    out: set[tuple[str, float]] = set()
    for chunk in _chunks(pairs):
        keys = sorted({k for k, _ in chunk})
        q = select(R.c.schedule_key, R.c.slot_at).where(R.c.schedule_key.in_(keys), R.c.slot_at.is_not(None))
        wanted = set(chunk)
        out |= {(k, float(s)) for k, s in conn.execute(q) if (k, float(s)) in wanted}
    return out


def insert_run(conn: Connection, row: dict[str, Any]) -> int:
    return int(conn.execute(insert(R).values(**row).returning(R.c.id)).scalar_one())


def link_jobs(conn: Connection, pairs: Sequence[tuple[int, int]]) -> None:
    """Set ``job_id`` on runs: ``(run id, job id)`` pairs."""
    if not pairs:
        return
    stmt = update(R).where(R.c.id == bindparam("b_id")).values(job_id=bindparam("b_job"))
    for chunk in _chunks(pairs, 5000):
        conn.execute(stmt, [{"b_id": r, "b_job": j} for r, j in chunk])


def busy_keys(conn: Connection, keys: Sequence[str]) -> set[str]:
    """Keys whose earlier run's job still waits or runs (``overlap=False`` skips them)."""
    out: set[str] = set()
    for chunk in _chunks(list(keys)):
        q = (
            select(R.c.schedule_key)
            .join(J, J.c.id == R.c.job_id)
            .where(R.c.status == "queued", R.c.schedule_key.in_(list(chunk)), J.c.state.in_(ACTIVE_JOB_STATES))
            .distinct()
        )
        out |= {k for (k,) in conn.execute(q)}
    return out


def settle_runs(conn: Connection) -> None:
    """Copy the outcome of finished jobs into their runs, so history survives the jobs being pruned."""
    last_error = (
        select(engine_schema.job_errors.c.error)
        .where(engine_schema.job_errors.c.job_id == J.c.id)
        .order_by(engine_schema.job_errors.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    conn.execute(
        update(R)
        .where(R.c.status == "queued", R.c.job_id == J.c.id, J.c.state.in_([S_.COMPLETED, S_.DISCARDED, S_.CANCELLED]))
        .values(
            status=case((J.c.state == S_.COMPLETED, "completed"), else_="error"),
            reason=case(
                (J.c.state == S_.CANCELLED, "job cancelled"), (J.c.state == S_.DISCARDED, last_error), else_=None
            ),
            started_at=J.c.attempted_at,
            finished_at=J.c.finished_at,
        )
    )
    gone = ~select(J.c.id).where(J.c.id == R.c.job_id).exists()
    conn.execute(
        update(R)
        .where(R.c.status == "queued", R.c.job_id.is_not(None), gone)
        .values(status="unknown", reason="its job was deleted before the outcome was recorded")
    )


_RUN_COLS = (
    R.c.id,
    R.c.schedule_key,
    R.c.slot_at,
    R.c.kind,
    R.c.status,
    R.c.reason,
    R.c.job_id,
    R.c.created_at,
    R.c.started_at,
    R.c.finished_at,
    J.c.state.label("job_state"),
    J.c.attempted_at.label("job_attempted_at"),
    J.c.finished_at.label("job_finished_at"),
)


def run_history(conn: Connection, key: str, limit: int) -> list[dict[str, Any]]:
    q = (
        select(*_RUN_COLS)
        .select_from(R.outerjoin(J, J.c.id == R.c.job_id))
        .where(R.c.schedule_key == key)
        .order_by(R.c.id.desc())
        .limit(limit)
    )
    return [dict(r) for r in conn.execute(q).mappings()]


def last_runs(conn: Connection) -> dict[str, dict[str, Any]]:
    latest = select(func.max(R.c.id)).group_by(R.c.schedule_key).scalar_subquery()
    q = select(*_RUN_COLS).select_from(R.outerjoin(J, J.c.id == R.c.job_id)).where(R.c.id.in_(latest))
    return {r["schedule_key"]: dict(r) for r in conn.execute(q).mappings()}
