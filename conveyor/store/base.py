"""The driver interface: everything the engine, worker and CLI ask of a database.

Hot-path operations (insert, fetch, acknowledge, fail, stage, rescue) are abstract: each driver writes
them as explicit SQL tuned to its database, on a raw DB-API connection it owns. Administrative queries
(stats, the failed store, pruning) are portable SQLAlchemy Core and live here once.
"""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, case, delete, func, insert, or_, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from conveyor.engine.job import FetchedJob, InsertRow, JobError, JobRecord
from conveyor.engine.retry import next_attempt_at
from conveyor.engine.states import FINISHED, WAITING, JobState
from conveyor.errors import InvalidStateError, JobNotFoundError
from conveyor.store import schema
from conveyor.store.queries import (
    BatchQueries,
    JobErrorQueries,
    JobReadQueries,
    LockQueries,
    RateLimitQueries,
    ScheduleQueries,
    ScheduleRunQueries,
    WorkerQueries,
)
from conveyor.store.queries.batches import BATCH_COUNTERS, batch_counts

S = JobState
J = schema.jobs


@dataclass(slots=True)
class QueueStats:
    """Counts and health of one queue, for ``queue stats``, ``queue monitor`` and the API."""

    queue: str
    counts: dict[str, int]
    paused: bool
    oldest_waiting_age: float | None
    #: Jobs that finished ``completed`` or ``discarded`` (failed for good) in the last minute / hour: the one
    #: definition of "processed" (cancelled jobs were not processed).
    processed_last_minute: int
    processed_last_hour: int
    #: Of those, the ones that ended ``discarded``.
    failed_last_minute: int = 0
    failed_last_hour: int = 0
    #: Most jobs of this queue executing at once across the cluster (``app.queue(global_limit=...)``).
    global_limit: int | None = None

    @property
    def waiting(self) -> int:
        return sum(self.counts.get(s, 0) for s in (S.AVAILABLE, S.SCHEDULED, S.RETRYABLE))


@dataclass(slots=True)
class Failure:
    """The outcome of a failed attempt, computed by the worker and written by the driver."""

    job_id: int
    attempt: int
    error: str
    traceback: str | None
    retry_at: float | None  # None: no attempts left, discard


@dataclass(slots=True)
class LostJob:
    """An executing job whose worker is gone (died, or stopped renewing its lease), as rescue reads it."""

    id: int
    attempt: int
    max_attempts: int
    crashes: int
    worker_id: str | None
    started: bool  # its body began: a runner thread ran it, it was not just waiting in the worker's buffer


# A lost job's new life, decided in Python by ``Driver._rescue`` (one rule with the executor's failures).
# The holder/state guard makes a second rescuer of the same job (or a late acknowledgement) a no-op.
RESCUE_JOB = """
UPDATE conveyor_jobs
SET state = ?, attempt = ?, crashes = ?, scheduled_at = ?, finished_at = ?, lease_expires_at = NULL,
    started_at = NULL, worker_id = ?
WHERE id = ? AND state = 'executing' AND worker_id = ?
RETURNING batch_id, state
"""
RESCUE_ERROR = "INSERT INTO conveyor_job_errors (job_id, attempt, at, error, traceback) VALUES (?, ?, ?, ?, ?)"


def quarantine_message(crashes: int, cause: str) -> str:
    return (
        f"killed its worker {crashes} times: discarded without further attempts so it takes no more workers "
        f"down (last: {cause})"
    )


class Driver(
    LockQueries,
    RateLimitQueries,
    ScheduleQueries,
    ScheduleRunQueries,
    BatchQueries,
    JobReadQueries,
    JobErrorQueries,
    WorkerQueries,
    ABC,
):
    """One database. Subclasses: :class:`SQLiteDriver`, :class:`PostgresDriver`.

    The SQL of the coordination, scheduler and monitoring tables comes from one mixin per table
    (:mod:`conveyor.store.queries`: locks, rate limits, schedules, schedule runs, batches (with their
    settlement, ``settle_batches``), the read side of jobs and job errors, workers)."""

    name: str
    #: DB-API placeholder of the raw connections ("?" or "%s"), for the few statements shared here.
    placeholder = "?"

    def q(self, sql: str) -> str:
        """A statement written with ``?`` placeholders, in this driver's placeholder style."""
        return sql if self.placeholder == "?" else sql.replace("?", self.placeholder)

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        #: ``(task, batch id, queue, now) -> InsertRow`` for a batch's callback job; the app installs one that
        #: applies the callback task's own options (see ``conveyor.coordination.batches.callback_builder``).
        self.build_callback: Callable[[str, int, str | None, float], InsertRow] | None = None

    # ------------------------------------------------------------------ connections
    @abstractmethod
    def connect(self) -> Any:
        """A dedicated raw DB-API connection in autocommit mode, for one thread's hot path."""

    @abstractmethod
    def is_disconnect(self, exc: BaseException) -> bool:
        """Whether ``exc`` means the connection is gone and should be reopened."""

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ hot path (driver SQL)
    @abstractmethod
    def insert_jobs(self, conn: Any, rows: Sequence[InsertRow], *, in_transaction: bool = False) -> list[int]:
        """Insert jobs, returning their ids in order. ``in_transaction``: the caller commits."""

    @abstractmethod
    def fetch_available(
        self,
        conn: Any,
        queue: str,
        limit: int,
        worker_id: str,
        now: float,
        lease: float,
        global_limit: int | None = None,
    ) -> list[FetchedJob]:
        """Atomically move up to ``limit`` available jobs of ``queue`` to executing, leased to ``worker_id``.

        Skips jobs whose lock key another executing job holds; with ``global_limit``, never lets the
        queue have more than that many executing jobs across all workers."""

    @abstractmethod
    def snooze_jobs(self, conn: Any, snoozed: Sequence[tuple[int, float]], worker_id: str) -> None:
        """Reschedule jobs at the given times without spending their attempt (``raise Snooze``)."""

    @abstractmethod
    def write_progress(self, conn: Any, items: Sequence[tuple[int, str]]) -> None:
        """Store progress JSON of executing jobs."""

    @abstractmethod
    def cancel_requested_of(self, conn: Any, worker_id: str) -> list[int]:
        """Executing jobs of ``worker_id`` whose cancellation was requested."""

    @abstractmethod
    def complete_jobs(self, conn: Any, done: Sequence[tuple[int, str | None]], worker_id: str, now: float) -> None:
        """Mark jobs completed (``(id, result JSON or None)``), only while ``worker_id`` still holds them."""

    @abstractmethod
    def fail_jobs(self, conn: Any, failures: Sequence[Failure], worker_id: str, now: float) -> None:
        """Record failed attempts: retryable at ``retry_at`` or discarded; every error row kept."""

    @abstractmethod
    def release_jobs(self, conn: Any, ids: Sequence[int], worker_id: str) -> int:
        """Give executing jobs back to ``available`` without consuming an attempt."""

    @abstractmethod
    def mark_started(self, conn: Any, started: Sequence[tuple[int, float]], worker_id: str) -> None:
        """Record that the bodies of these executing jobs began (``(id, at)``), so that rescue after a lost
        worker charges an attempt to them and releases the ones that only waited in its buffer."""

    @abstractmethod
    def extend_leases(self, conn: Any, worker_id: str, until: float) -> list[int]:
        """Heartbeat: push the lease of every job ``worker_id`` executes to ``until``; returns their ids
        (a held job missing from them was rescued: its lease is lost)."""

    @abstractmethod
    def stage_due(self, conn: Any, now: float) -> int:
        """Promote scheduled/retryable jobs that are due to ``available``."""

    @abstractmethod
    def rescue_expired(self, conn: Any, now: float, crash_limit: int = 2) -> list[int]:
        """Jobs whose lease expired (their worker died or froze). One that never started goes back to
        ``available`` uncharged; one that ran is charged: "worker lost", a crash counted, then available
        again, or discarded when it has no attempt left or has now crashed ``crash_limit`` times."""

    @abstractmethod
    def rescue_worker(
        self, conn: Any, worker_id: str, running: Collection[int], now: float, cause: str, crash_limit: int = 2
    ) -> list[int]:
        """A worker process is known dead (its supervisor reaped it): its jobs in ``running`` were inside a
        task when it died and are charged as in :meth:`rescue_expired` with ``cause`` as their error; its
        other jobs were only buffered and go back uncharged. No waiting for the lease."""

    def _rescue(self, cur: Any, lost: Sequence[LostJob], now: float, crash_limit: int, cause: str | None) -> None:
        """Write each lost job's new life (in the caller's transaction) and count finished ones into batches."""
        changed = []
        for job in lost:
            if not job.started:  # only buffered: as if released on shutdown, no attempt and no crash
                row = cur.execute(
                    self.q(RESCUE_JOB),
                    (S.AVAILABLE.value, max(job.attempt - 1, 0), job.crashes, now, None, None, job.id, job.worker_id),
                ).fetchone()
                changed.append(row)
                continue
            crashes = job.crashes + 1
            error = cause or worker_lost_message(job.worker_id)
            retry_at = next_attempt_at(job.attempt, job.max_attempts, now)
            if crashes >= crash_limit:
                error, retry_at = quarantine_message(crashes, error), None
            state, finished = (S.AVAILABLE.value, None) if retry_at is not None else (S.DISCARDED.value, now)
            row = cur.execute(
                self.q(RESCUE_JOB),
                (state, job.attempt, crashes, retry_at or now, finished, job.worker_id, job.id, job.worker_id),
            ).fetchone()
            if row is not None:
                cur.execute(self.q(RESCUE_ERROR), (job.id, job.attempt, now, error, None))
            changed.append(row)
        counts = batch_counts([r for r in changed if r is not None and r[0] is not None])
        if counts:
            self.settle_batches(cur, counts, now)

    @abstractmethod
    def watch(self, wake: threading.Event, stop: threading.Event) -> None:
        """Set ``wake`` whenever new work may have arrived, until ``stop`` is set (runs in a thread)."""

    def notify(self, conn: Any, queue: str) -> None:  # optional: drivers that poll need not notify
        """Tell idle workers that ``queue`` has work (drivers without push notifications poll)."""

    # ------------------------------------------------------------------ admin (portable Core)
    @contextmanager
    def begin(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A transaction for reads only (one consistent snapshot; on SQLite it does not take the write lock)."""
        with self.engine.connect().execution_options(conveyor_read_only=True) as conn, conn.begin():
            yield conn

    def get_job(self, job_id: int) -> JobRecord:
        with self.read() as c:
            row = c.execute(select(J).where(J.c.id == job_id)).mappings().first()
            if row is None:
                raise JobNotFoundError(job_id)
            errs = c.execute(
                select(schema.job_errors).where(schema.job_errors.c.job_id == job_id).order_by(schema.job_errors.c.id)
            ).mappings()
            errors = [JobError(e["attempt"], e["at"], e["error"], e["traceback"]) for e in errs]
        return _record(row, errors)

    def list_jobs(
        self,
        states: Sequence[str],
        queue: str | None = None,
        limit: int = 50,
        before_id: int | None = None,
        task: str | None = None,
    ) -> list[JobRecord]:
        """Newest first, keyset-paginated by id."""
        q = select(J).where(J.c.state.in_(list(states)))
        if queue:
            q = q.where(J.c.queue == queue)
        if task:
            q = q.where(J.c.task == task)
        if before_id is not None:
            q = q.where(J.c.id < before_id)
        q = q.order_by(J.c.id.desc()).limit(limit)
        with self.begin() as c:
            rows = c.execute(q).mappings().all()
            ids = [r["id"] for r in rows]
            errs: dict[int, list[JobError]] = {}
            if ids:
                for e in c.execute(
                    select(schema.job_errors)
                    .where(schema.job_errors.c.job_id.in_(ids))
                    .order_by(schema.job_errors.c.id)
                ).mappings():
                    errs.setdefault(e["job_id"], []).append(JobError(e["attempt"], e["at"], e["error"], e["traceback"]))
        return [_record(r, errs.get(r["id"], [])) for r in rows]

    def retry_jobs(
        self,
        ids: Sequence[int] | None,
        now: float,
        *,
        queue: str | None = None,
        task: str | None = None,
        strict: bool = True,
    ) -> list[str]:
        """Move discarded/cancelled jobs back to available for one more attempt (Laravel's
        ``queue:retry``, Oban's ``retry_job``). ``ids=None`` retries every discarded job (of ``queue`` /
        ``task`` when given). ``strict=False``: ids that are no longer discarded (retried meanwhile) are
        skipped instead of refused. A batch they belong to counts them as pending again. Returns the queues
        that got work (one entry per job), so the caller can wake their workers."""
        cond: ColumnElement[bool]
        with self.begin() as c:
            if ids is None:
                cond = J.c.state == S.DISCARDED
                if queue:
                    cond = and_(cond, J.c.queue == queue)
                if task:
                    cond = and_(cond, J.c.task == task)
            elif not strict:
                cond = and_(J.c.state == S.DISCARDED, J.c.id.in_(list(ids)))
            else:
                found = {r[0]: r[1] for r in c.execute(select(J.c.id, J.c.state).where(J.c.id.in_(list(ids))))}
                for i in ids:
                    if i not in found:
                        raise JobNotFoundError(i)
                    if found[i] not in (S.DISCARDED, S.CANCELLED):
                        raise InvalidStateError(
                            f"job {i} is {found[i]}, not failed: only discarded or cancelled jobs can be retried"
                        )
                cond = J.c.id.in_(list(ids))
            per_batch = c.execute(
                select(J.c.batch_id, J.c.state, func.count())
                .where(cond, J.c.batch_id.is_not(None))
                .group_by(J.c.batch_id, J.c.state)
            ).all()
            queues = [
                r[0]
                for r in c.execute(
                    update(J)
                    .where(cond)
                    .values(
                        state=S.AVAILABLE,
                        scheduled_at=now,
                        finished_at=None,
                        cancel_requested=False,
                        max_attempts=case((J.c.attempt >= J.c.max_attempts, J.c.attempt + 1), else_=J.c.max_attempts),
                    )
                    .returning(J.c.queue)
                )
            ]
            B = schema.batches
            for batch_id, state, n in per_batch:
                counter = B.c.failed if state == S.DISCARDED else B.c.cancelled
                c.execute(
                    update(B)
                    .where(B.c.id == batch_id)
                    .values({counter.name: counter - n, "state": "running", "finished_at": None})
                )
            return queues

    def delete_jobs(
        self, states: Sequence[str], ids: Sequence[int] | None = None, older_than: float | None = None
    ) -> int:
        """Delete jobs (and their error rows) in the given states, optionally by id or age."""
        cond: ColumnElement[bool] = J.c.state.in_(list(states))
        if ids is not None:
            cond = and_(cond, J.c.id.in_(list(ids)))
        if older_than is not None:
            cond = and_(cond, J.c.finished_at < older_than)
        with self.begin() as c:
            victims = select(J.c.id).where(cond).scalar_subquery()
            c.execute(delete(schema.job_errors).where(schema.job_errors.c.job_id.in_(victims)))
            return c.execute(delete(J).where(cond)).rowcount

    def delete_failed_jobs(self, ids: Sequence[int]) -> int:
        """Delete jobs that finished unsuccessfully (``discarded`` or ``cancelled``) and their error rows.
        All or nothing: an unknown id or a job in any other state refuses the whole call."""
        ids = list(dict.fromkeys(ids))
        gone = (S.DISCARDED, S.CANCELLED)
        with self.begin() as c:
            found = {r[0]: r[1] for r in c.execute(select(J.c.id, J.c.state).where(J.c.id.in_(ids)))}
            for i in ids:
                if i not in found:
                    raise JobNotFoundError(i)
                if found[i] not in gone:
                    raise InvalidStateError(
                        f"job {i} is {found[i]}: only jobs that failed (discarded) or were cancelled can be deleted"
                    )
            cond = and_(J.c.id.in_(ids), J.c.state.in_(list(gone)))
            c.execute(delete(schema.job_errors).where(schema.job_errors.c.job_id.in_(ids)))
            return int(c.execute(delete(J).where(cond)).rowcount)

    def prune_completed(self, older_than: float, limit: int = 10_000) -> int:
        """Delete up to ``limit`` completed jobs finished before ``older_than`` (oldest first). Small
        batches keep each transaction short, so workers are never blocked behind a big delete."""
        victims = (
            select(J.c.id)
            .where(J.c.state == S.COMPLETED, J.c.finished_at < older_than, text(schema.FINISHED_WHERE))
            .order_by(J.c.finished_at)
            .limit(limit)
            .scalar_subquery()
        )
        with self.begin() as c:
            c.execute(delete(schema.job_errors).where(schema.job_errors.c.job_id.in_(victims)))
            return int(c.execute(delete(J).where(J.c.id.in_(victims))).rowcount)

    def cancel(self, job_id: int, now: float) -> str:
        """Cancel a job: one that waits becomes ``cancelled`` at once ("cancelled"); one that runs is
        asked to stop (``current_job().cancelled`` turns true; "requested"); a finished one is left
        alone ("finished")."""
        with self.begin() as c:
            row = c.execute(select(J.c.state, J.c.batch_id).where(J.c.id == job_id)).first()
            if row is None:
                raise JobNotFoundError(job_id)
            state, batch_id = row
            if state in WAITING:
                c.execute(update(J).where(J.c.id == job_id).values(state=S.CANCELLED, finished_at=now))
                if batch_id is not None:
                    self.settle_batches(c.connection.driver_connection, {batch_id: [0, 0, 1]}, now)
                return "cancelled"
            if state == S.EXECUTING:
                c.execute(update(J).where(J.c.id == job_id).values(cancel_requested=True))
                return "requested"
            return "finished"

    def queue_stats(self, now: float, declared: Sequence[str] = ()) -> list[QueueStats]:
        """Every queue that has jobs or settings, plus ``declared`` ones (the app's), by name."""
        with self.read() as c:
            counts: dict[str, dict[str, int]] = {}
            for q, st, n in c.execute(select(J.c.queue, J.c.state, func.count()).group_by(J.c.queue, J.c.state)):
                counts.setdefault(q, {})[st] = n
            oldest = dict(
                c.execute(
                    select(J.c.queue, func.min(J.c.scheduled_at)).where(J.c.state == S.AVAILABLE).group_by(J.c.queue)
                ).all()
            )
            # queue -> [processed last minute, last hour, failed last minute, last hour]
            recent: dict[str, list[int]] = {}
            for state in (S.COMPLETED, S.DISCARDED):  # one range scan of the finished index per state
                for q, minute, hour in c.execute(
                    select(J.c.queue, func.sum(case((J.c.finished_at >= now - 60, 1), else_=0)), func.count())
                    .where(J.c.state == state, text(schema.FINISHED_WHERE), J.c.finished_at >= now - 3600)
                    .group_by(J.c.queue)
                ):
                    r = recent.setdefault(q, [0, 0, 0, 0])
                    r[0] += int(minute or 0)
                    r[1] += int(hour or 0)
                    if state == S.DISCARDED:
                        r[2] += int(minute or 0)
                        r[3] += int(hour or 0)
            Q = schema.queues
            settings = {n: (bool(p), g) for n, p, g in c.execute(select(Q.c.name, Q.c.paused, Q.c.global_limit))}
        out = []
        for q in sorted(set(counts) | set(settings) | set(declared)):
            o = oldest.get(q)
            minute, hour, failed_minute, failed_hour = recent.get(q, (0, 0, 0, 0))
            paused, limit = settings.get(q, (False, None))
            out.append(
                QueueStats(
                    queue=q,
                    counts=counts.get(q, {}),
                    paused=paused,
                    oldest_waiting_age=None if o is None else max(0.0, now - o),
                    processed_last_minute=minute,
                    processed_last_hour=hour,
                    failed_last_minute=failed_minute,
                    failed_last_hour=failed_hour,
                    global_limit=limit,
                )
            )
        return out

    def queue_exists(self, queue: str) -> bool:
        """Whether ``queue`` has a job (in any state) or a settings row. An index probe, not a scan."""
        Q = schema.queues
        with self.read() as c:
            if c.execute(select(Q.c.name).where(Q.c.name == queue)).first() is not None:
                return True
            return c.execute(select(J.c.id).where(J.c.queue == queue).limit(1)).first() is not None

    def queue_names(self) -> list[str]:
        """Every queue that has jobs or settings (for messages; scans the queue column)."""
        with self.read() as c:
            names = {n for (n,) in c.execute(select(J.c.queue).distinct())}
            names |= {n for (n,) in c.execute(select(schema.queues.c.name))}
        return sorted(names)

    def set_paused(self, queue: str, paused: bool, now: float) -> None:
        Q = schema.queues
        with self.begin() as c:
            if c.execute(update(Q).where(Q.c.name == queue).values(paused=paused, updated_at=now)).rowcount == 0:
                c.execute(insert(Q).values(name=queue, paused=paused, updated_at=now))

    def configure_queue(self, queue: str, global_limit: int | None, now: float) -> None:
        """Store a queue's global concurrency limit (from ``app.queue``) for every worker to read."""
        Q = schema.queues
        with self.begin() as c:
            res = c.execute(update(Q).where(Q.c.name == queue).values(global_limit=global_limit, updated_at=now))
            if res.rowcount == 0:
                c.execute(insert(Q).values(name=queue, paused=False, global_limit=global_limit, updated_at=now))

    def queue_settings(self, conn: Connection | None = None) -> dict[str, tuple[bool, int | None]]:
        """name -> (paused, global limit) for every queue with settings (in ``conn``'s transaction if given)."""
        Q = schema.queues
        q = select(Q.c.name, Q.c.paused, Q.c.global_limit)
        if conn is not None:
            return {n: (bool(p), g) for n, p, g in conn.execute(q)}
        with self.begin() as c:
            return {n: (bool(p), g) for n, p, g in c.execute(q)}

    def paused_queues(self) -> set[str]:
        with self.begin() as c:
            return {n for (n,) in c.execute(select(schema.queues.c.name).where(schema.queues.c.paused))}

    def clear_queue(self, queue: str) -> int:
        """Delete every job of ``queue`` that waits to run. Executing jobs are left to finish."""
        cond = and_(J.c.queue == queue, J.c.state.in_(list(WAITING)))
        with self.begin() as c:
            return c.execute(delete(J).where(cond)).rowcount

    def pending_count(self, queues: Sequence[str], now: float) -> int:
        """Jobs of these queues that are available, due, or executing anywhere."""
        due = or_(
            J.c.state.in_([S.AVAILABLE, S.EXECUTING]),
            and_(J.c.state.in_([S.SCHEDULED, S.RETRYABLE]), J.c.scheduled_at <= now),
        )
        with self.begin() as c:
            return int(
                c.execute(select(func.count()).select_from(J).where(J.c.queue.in_(list(queues)), due)).scalar() or 0
            )

    # ------------------------------------------------------------------ workers
    def executing_jobs_of(self, worker_prefix: str) -> list[dict[str, Any]]:
        """Executing jobs held by a worker's children (for timeouts and crash handling)."""
        cols = (J.c.id, J.c.worker_id, J.c.task, J.c.attempt, J.c.max_attempts, J.c.attempted_at, J.c.timeout)
        with self.begin() as c:
            rows = c.execute(
                select(*cols).where(J.c.state == S.EXECUTING, J.c.worker_id.like(worker_prefix + "%"))
            ).mappings()
            return [dict(r) for r in rows]

    def expire_leases_of(self, worker_id: str) -> int:
        """A worker process is known dead: expire its leases now so rescue need not wait for them."""
        with self.begin() as c:
            return c.execute(
                update(J).where(J.c.state == S.EXECUTING, J.c.worker_id == worker_id).values(lease_expires_at=0.0)
            ).rowcount


def _record(row: Any, errors: list[JobError]) -> JobRecord:
    return JobRecord(
        id=row["id"],
        queue=row["queue"],
        task=row["task"],
        args=json.loads(row["args"]),
        kwargs=json.loads(row["kwargs"]),
        state=JobState(row["state"]),
        priority=row["priority"],
        attempt=row["attempt"],
        max_attempts=row["max_attempts"],
        timeout=row["timeout"],
        created_at=row["created_at"],
        scheduled_at=row["scheduled_at"],
        attempted_at=row["attempted_at"],
        finished_at=row["finished_at"],
        lease_expires_at=row["lease_expires_at"],
        worker_id=row["worker_id"],
        result=None if row["result"] is None else json.loads(row["result"]),
        errors=errors,
        lock_key=row["lock_key"],
        unique_key=row["unique_key"],
        batch_id=row["batch_id"],
        progress=None if row["progress"] is None else json.loads(row["progress"]),
        cancel_requested=bool(row["cancel_requested"]),
        started_at=row["started_at"],
        crashes=row["crashes"],
    )


def worker_lost_message(worker_id: str | None) -> str:
    return f"worker lost: {worker_id or 'unknown worker'} stopped renewing its lease (killed or machine lost)"


__all__ = ["BATCH_COUNTERS", "FINISHED", "Driver", "Failure", "LostJob", "QueueStats", "batch_counts"]
