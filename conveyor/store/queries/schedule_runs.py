"""``conveyor_schedule_runs``: one row per run of a schedule; the unique ``(schedule_key, slot_at)`` index
is the claim of a cron slot.

Exactly-once per slot rests on that index, not on the transaction's isolation: a second scheduler inserting
the same ``(key, slot)`` either waits for the first one's commit (PostgreSQL) or runs after it (SQLite, whose
write transactions are serialised), then conflicts and inserts nothing, so only the claim's winner enqueues
the job, in the same transaction as the claim. Every method takes the caller's connection (the tick's).
"""

from __future__ import annotations

import functools
from abc import abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Table, bindparam, case, func, insert, select, update

from conveyor.engine.states import JobState
from conveyor.store import schema
from conveyor.store.queries.base import TableQueries, chunks
from conveyor.store.queries.schedules import scheduler_tables

J = schema.jobs
S_ = JobState
ACTIVE_JOB_STATES = [S_.SCHEDULED, S_.AVAILABLE, S_.EXECUTING, S_.RETRYABLE]
#: The columns of a claim row, in the order the drivers' claim statements take them.
CLAIM_COLS = ("schedule_key", "slot_at", "kind", "status", "reason", "created_at")


def _runs() -> Table:
    return scheduler_tables()[1]


_RUN_FIELDS = (
    "id",
    "schedule_key",
    "slot_at",
    "kind",
    "status",
    "reason",
    "job_id",
    "created_at",
    "started_at",
    "finished_at",
)


@functools.cache
def _run_cols() -> tuple[Any, ...]:
    """A run with its job's state and times, as history shows them."""
    R = _runs()
    return (
        *(R.c[name] for name in _RUN_FIELDS),
        J.c.state.label("job_state"),
        J.c.attempted_at.label("job_attempted_at"),
        J.c.finished_at.label("job_finished_at"),
    )


class ScheduleRunQueries(TableQueries):
    """Runs: cron slot claims, manual triggers, their jobs and outcomes."""

    @abstractmethod
    def schedule_run_claim_slots(
        self,
        conn: Connection,
        rows: Sequence[dict[str, Any]],
        enqueue: Callable[[list[dict[str, Any]]], list[int | None]],
    ) -> list[tuple[dict[str, Any], int | None]]:
        """Claim cron slots (one unique run row each, columns :data:`CLAIM_COLS`) and enqueue the jobs of the
        slots this call won, in ``conn``'s transaction.

        ``enqueue`` gets the won rows and returns a job id per row (None for a skipped slot); the runs are
        linked to their jobs. Returns ``(row, job id)`` for every slot won; a slot already claimed (by an
        earlier tick or a concurrent scheduler) is not in it. Written per driver (PostgreSQL claims with one
        array insert and sees what it won in RETURNING; SQLite reads the claimed slots under its write lock)."""

    def schedule_run_claimed(self, conn: Connection, pairs: Sequence[tuple[str, float]]) -> set[tuple[str, float]]:
        """Which of these ``(key, slot)`` pairs are already claimed (dry runs; SQLite's claim)."""
        R = _runs()
        out: set[tuple[str, float]] = set()
        for chunk in chunks(pairs):
            keys = sorted({k for k, _ in chunk})
            q = select(R.c.schedule_key, R.c.slot_at).where(R.c.schedule_key.in_(keys), R.c.slot_at.is_not(None))
            wanted = set(chunk)
            out |= {(k, float(s)) for k, s in conn.execute(q) if (k, float(s)) in wanted}
        return out

    def schedule_run_insert(self, conn: Connection, row: dict[str, Any]) -> int:
        """Insert one run (a manual trigger: ``slot_at`` None never conflicts); its id."""
        R = _runs()
        return int(conn.execute(insert(R).values(**row).returning(R.c.id)).scalar_one())

    def schedule_run_link_jobs(self, conn: Connection, pairs: Sequence[tuple[int, int]]) -> None:
        """Set ``job_id`` on runs: ``(run id, job id)`` pairs."""
        R = _runs()
        if not pairs:
            return
        stmt = update(R).where(R.c.id == bindparam("b_id")).values(job_id=bindparam("b_job"))
        for chunk in chunks(pairs, 5000):
            conn.execute(stmt, [{"b_id": r, "b_job": j} for r, j in chunk])

    def schedule_run_busy_keys(self, conn: Connection, keys: Sequence[str]) -> set[str]:
        """Keys whose earlier run's job still waits or runs (``overlap=False`` skips them)."""
        R = _runs()
        out: set[str] = set()
        for chunk in chunks(list(keys)):
            q = (
                select(R.c.schedule_key)
                .join(J, J.c.id == R.c.job_id)
                .where(R.c.status == "queued", R.c.schedule_key.in_(list(chunk)), J.c.state.in_(ACTIVE_JOB_STATES))
                .distinct()
            )
            out |= {k for (k,) in conn.execute(q)}
        return out

    def schedule_run_settle(self, conn: Connection) -> None:
        """Copy the outcome of finished jobs into their runs, so history survives the jobs being pruned; a run
        whose job was deleted first becomes ``unknown``."""
        R = _runs()
        last_error = (
            select(schema.job_errors.c.error)
            .where(schema.job_errors.c.job_id == J.c.id)
            .order_by(schema.job_errors.c.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        conn.execute(
            update(R)
            .where(
                R.c.status == "queued", R.c.job_id == J.c.id, J.c.state.in_([S_.COMPLETED, S_.DISCARDED, S_.CANCELLED])
            )
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

    def schedule_run_history(self, conn: Connection, key: str, limit: int) -> list[dict[str, Any]]:
        """Runs of ``key``, newest first, with their job's state and times (None once the job is pruned)."""
        R = _runs()
        q = (
            select(*_run_cols())
            .select_from(R.outerjoin(J, J.c.id == R.c.job_id))
            .where(R.c.schedule_key == key)
            .order_by(R.c.id.desc())
            .limit(limit)
        )
        return [dict(r) for r in conn.execute(q).mappings()]

    def schedule_run_last(self, conn: Connection) -> dict[str, dict[str, Any]]:
        """The newest run of every key, as :meth:`schedule_run_history` reads it."""
        R = _runs()
        latest = select(func.max(R.c.id)).group_by(R.c.schedule_key).scalar_subquery()
        q = select(*_run_cols()).select_from(R.outerjoin(J, J.c.id == R.c.job_id)).where(R.c.id.in_(latest))
        return {r["schedule_key"]: dict(r) for r in conn.execute(q).mappings()}

    def schedule_run_of_job(self, conn: Connection, job_id: int) -> tuple[str, int] | None:
        """(schedule key, run id) of the run that queued ``job_id``, or None if the scheduler did not."""
        R = _runs()
        row = conn.execute(select(R.c.schedule_key, R.c.id).where(R.c.job_id == job_id).limit(1)).first()
        return None if row is None else (row[0], int(row[1]))

    def schedule_run_after(self, conn: Connection, after_id: int, limit: int = 200) -> list[dict[str, Any]]:
        """Runs recorded after ``after_id``, oldest first (the dashboard's change feed of fired schedules)."""
        R = _runs()
        q = (
            select(R.c.id, R.c.schedule_key, R.c.kind, R.c.status, R.c.job_id, R.c.created_at)
            .where(R.c.id > after_id)
            .order_by(R.c.id)
            .limit(limit)
        )
        return [dict(r) for r in conn.execute(q).mappings()]

    def schedule_run_max_id(self, conn: Connection) -> int:
        """The newest run's id (0 when there is none): where the feed of runs starts."""
        return int(conn.execute(select(func.max(_runs().c.id))).scalar() or 0)
