"""``conveyor_batches``: a group of jobs with exact counts and a callback that fires once (see
:mod:`conveyor.coordination.batches` for building batches and their callbacks).

Exactly-once rests on the batch row's lock, not on isolation: every transaction that finishes jobs of a
batch counts them in with one ``UPDATE … SET completed = completed + n … RETURNING`` (:meth:`settle_batches`),
which locks the row until that transaction commits (PostgreSQL's row lock; SQLite's write lock, held since
``BEGIN IMMEDIATE``). Concurrent acknowledgements are therefore serialised on the row, each sees the counts
with every earlier one's added, and only the one whose increment reaches the total sees the batch finish,
writes its final state and inserts the callback job, in the same transaction as the last job's outcome.

Settlement runs on the hot path's raw DB-API connection (the worker's acknowledgement, rescue, cancel), so
its two statements are SQL text in ``?`` style, turned into each driver's placeholder by :meth:`q`. The
other methods are portable SQLAlchemy Core. Batch reads of ``conveyor_jobs`` (a batch's failed jobs, its
discarded ids, cancelling its waiting jobs) are here too: they are questions about one batch.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from conveyor.engine.job import InsertRow
from conveyor.engine.states import WAITING, JobState
from conveyor.store import schema
from conveyor.store.queries.base import TableQueries

B = schema.batches
J = schema.jobs
S = JobState

#: Final job states that count towards a batch, and the batch counter each one increments.
BATCH_COUNTERS = {S.COMPLETED: 0, S.DISCARDED: 1, S.CANCELLED: 2}

# The increment locks the batch row until the caller's transaction commits (see the module docstring), so
# the counts it returns include every earlier settlement and none that is still running.
SETTLE_BATCH = """
UPDATE conveyor_batches SET completed = completed + ?, failed = failed + ?, cancelled = cancelled + ?
WHERE id = ?
RETURNING total, completed, failed, cancelled, state, on_complete, on_failure, callback_queue
"""
FINISH_BATCH = "UPDATE conveyor_batches SET state = ?, finished_at = ?, callback_job_id = ? WHERE id = ?"


@dataclass(frozen=True, slots=True)
class BatchRecord:
    """One batch: its counts, state (``running``, ``completed``, ``failed``, ``cancelled``) and callbacks."""

    id: int
    name: str
    state: str  # running, completed, failed, cancelled
    total: int
    completed: int
    failed: int
    cancelled: int
    created_at: float
    finished_at: float | None
    on_complete: str | None
    on_failure: str | None
    callback_job_id: int | None

    @property
    def pending(self) -> int:
        return self.total - self.completed - self.failed - self.cancelled

    @property
    def progress(self) -> float:
        """Share of jobs finished, 0..1."""
        return 1.0 if not self.total else (self.total - self.pending) / self.total


def _record(row: Any) -> BatchRecord:
    return BatchRecord(**{k: row[k] for k in BatchRecord.__slots__})


def batch_counts(rows: Sequence[tuple[Any, Any]]) -> dict[int, list[int]]:
    """``(batch_id, new state)`` rows of jobs that just changed state -> counter deltas per batch."""
    counts: dict[int, list[int]] = {}
    for batch_id, state in rows:
        if batch_id is not None and state in BATCH_COUNTERS:
            counts.setdefault(batch_id, [0, 0, 0])[BATCH_COUNTERS[state]] += 1
    return counts


class BatchQueries(TableQueries):
    """Batches: creation, reads, cancelling, and the settlement every job-finishing transaction runs."""

    #: ``(task, batch id, queue, now) -> InsertRow`` for a batch's callback job (the app installs one; see
    #: ``conveyor.coordination.batches.callback_builder``). None: the callback gets default options.
    build_callback: Callable[[str, int, str | None, float], InsertRow] | None

    @abstractmethod
    def q(self, sql: str) -> str:
        """A statement written with ``?`` placeholders, in this driver's raw-connection placeholder style."""

    @abstractmethod
    def insert_jobs(self, conn: Any, rows: Sequence[InsertRow], *, in_transaction: bool = False) -> list[int]:
        """The driver's job insert (the callback job is inserted with it, in the settling transaction)."""

    def settle_batches(self, conn: Any, counts: dict[int, list[int]], now: float) -> None:
        """Count finished jobs into their batches (``batch id -> [completed, failed, cancelled]`` deltas) and,
        for a batch whose last job just finished, write its final state and insert its callback job.

        ``conn`` is the raw DB-API connection (or cursor) of the transaction that changed the jobs' states,
        which must not have committed yet: the batch row's lock, taken by the first UPDATE, makes exactly
        one transaction see the batch finish. Batches are settled in id order, so two transactions settling
        the same batches lock them in the same order and cannot deadlock."""
        for batch_id, (done, failed, cancelled) in sorted(counts.items()):
            row = conn.execute(self.q(SETTLE_BATCH), (done, failed, cancelled, batch_id)).fetchone()
            if row is None:  # the batch row was deleted: nothing to count into
                continue
            total, n_done, n_failed, n_cancelled, state, on_complete, on_failure, callback_queue = row
            if state != "running" or n_done + n_failed + n_cancelled < total:
                continue
            final = "failed" if n_failed else "cancelled" if n_cancelled else "completed"
            callback = on_failure if n_failed else None if n_cancelled else on_complete
            callback_id = None
            if callback:
                if self.build_callback is not None:  # the app's: built like any job of that task
                    callback_row = self.build_callback(callback, batch_id, callback_queue, now)
                else:
                    payload = f"[{batch_id}]"
                    callback_row = InsertRow(
                        callback_queue or "default", callback, payload, "{}", S.AVAILABLE.value, 0, 3, None, now, now
                    )
                callback_id = self.insert_jobs(conn, [callback_row], in_transaction=True)[0]
            conn.execute(self.q(FINISH_BATCH), (final, now, callback_id, batch_id))

    def batch_insert(
        self,
        conn: Connection,
        *,
        name: str,
        total: int,
        on_complete: str | None,
        on_failure: str | None,
        callback_queue: str | None,
        now: float,
    ) -> int:
        """Insert a running batch of ``total`` jobs in the caller's transaction (which then inserts the jobs
        with this id, so the batch and its jobs exist together or not at all). Returns its id."""
        stmt = (
            insert(B)
            .values(
                name=name,
                state="running",
                total=total,
                completed=0,
                failed=0,
                cancelled=0,
                on_complete=on_complete,
                on_failure=on_failure,
                callback_queue=callback_queue,
                created_at=now,
            )
            .returning(B.c.id)
        )
        return int(conn.execute(stmt).scalar_one())

    def batch_get(self, batch_id: int) -> BatchRecord | None:
        """The batch, or None if there is no such batch."""
        with self.read() as c:
            row = c.execute(select(B).where(B.c.id == batch_id)).mappings().first()
        return None if row is None else _record(row)

    def batch_list(self, limit: int = 50, before_id: int | None = None) -> list[BatchRecord]:
        """Batches newest first, ``limit`` of them with an id below the keyset cursor ``before_id``."""
        q = select(B).order_by(B.c.id.desc()).limit(limit)
        if before_id is not None:
            q = q.where(B.c.id < before_id)
        with self.read() as c:
            return [_record(r) for r in c.execute(q).mappings()]

    def batch_discarded_job_ids(self, batch_id: int) -> list[int]:
        """Ids of the batch's discarded jobs (through ``ix_conveyor_jobs_batch``)."""
        q = select(J.c.id).where(J.c.batch_id == batch_id, J.c.state == S.DISCARDED).order_by(J.c.id)
        with self.read() as c:
            return [int(i) for (i,) in c.execute(q)]

    def batch_cancel(self, batch_id: int, now: float) -> tuple[int, int]:
        """Cancel the batch's waiting jobs (counted into the batch in the same transaction, which may finish
        it) and ask its executing ones to stop. Returns ``(cancelled, asked)``."""
        with self.begin() as c:
            cancelled = c.execute(
                update(J)
                .where(J.c.batch_id == batch_id, J.c.state.in_(list(WAITING)))
                .values(state=S.CANCELLED, finished_at=now)
            ).rowcount
            if cancelled:
                self.settle_batches(c.connection.driver_connection, {batch_id: [0, 0, cancelled]}, now)
            asked = c.execute(
                update(J).where(J.c.batch_id == batch_id, J.c.state == S.EXECUTING).values(cancel_requested=True)
            ).rowcount
        return int(cancelled), int(asked)

    def batch_failed_jobs(self, conn: Connection, batch_id: int, limit: int) -> list[dict[str, Any]]:
        """A batch's failed (discarded) and cancelled jobs, newest first (whole job rows)."""
        q = (
            select(J)
            .where(J.c.batch_id == batch_id, J.c.state.in_([S.DISCARDED.value, S.CANCELLED.value]))
            .order_by(J.c.id.desc())
            .limit(limit)
        )
        return [dict(r) for r in conn.execute(q).mappings()]

    def batch_finished_after(self, conn: Connection, after: float) -> list[dict[str, Any]]:
        """Batches that finished at or after ``after``, in finishing order (the dashboard's change feed)."""
        cols = (B.c.id, B.c.name, B.c.state, B.c.total, B.c.completed, B.c.failed, B.c.cancelled, B.c.finished_at)
        q = select(*cols).where(B.c.finished_at >= after).order_by(B.c.finished_at)
        return [dict(r) for r in conn.execute(q).mappings()]
