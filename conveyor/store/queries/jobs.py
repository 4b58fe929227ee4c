"""``conveyor_jobs``, read side: what the dashboard, the HTTP API and ``/metrics`` ask (see
:mod:`conveyor.web.monitor` for how often, and why a background thread asks instead of each request).

Every method takes the caller's connection, normally one ``Driver.read()`` transaction per monitor tick or
request (one snapshot; on SQLite no write lock). Each query is shaped to stay fast on a table with
millions of finished jobs: counts of the waiting and executing states go through the partial indexes of
those states (one query per state, so the planner can use each), finished jobs are read through
``ix_conveyor_jobs_finished`` (state, finished_at) by time range, and lists page by keyset
(``id < cursor``), never OFFSET. The one expensive query, :meth:`JobReadQueries.job_finished_counts` (a
count over every retained finished job), is meant to run on a slow cadence and be cached.

Reading finished jobs: SQLite uses a partial index only when the query's WHERE repeats the index's
predicate, so every query on one finished state also carries :data:`~conveyor.store.schema.FINISHED_WHERE`
(redundant, and harmless on PostgreSQL, which plans it exactly as without). One finished state per query:
with all three in one ``IN`` PostgreSQL reads the partial index's predicate as implied and scans the
whole index for the time range.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, TextClause, and_, case, func, or_, select, text
from sqlalchemy.sql.elements import ColumnElement

from conveyor.engine.states import JobState
from conveyor.store import schema
from conveyor.store.queries.base import TableQueries

S = JobState
J = schema.jobs
FINISHED_STATES = (S.COMPLETED.value, S.DISCARDED.value, S.CANCELLED.value)


def _finished(state: str) -> tuple[ColumnElement[bool], TextClause]:
    """``state = :state`` plus the finished index's own predicate text, so SQLite can use the index."""
    return (J.c.state == state, text(schema.FINISHED_WHERE))


@dataclass(frozen=True, slots=True)
class FinishedRow:
    """A job that finished, as the dashboard's change feed reads it."""

    id: int
    queue: str
    task: str
    state: str
    attempt: int
    attempted_at: float | None
    finished_at: float
    scheduled_at: float


@dataclass(frozen=True, slots=True)
class FinishedAggregate:
    """Jobs of one (queue, task) that finished in one ``slot``-second slot in one state."""

    queue: str
    task: str
    slot_start: float
    count: int
    #: Seconds between ``attempted_at`` and ``finished_at``, summed over the jobs.
    duration_sum: float
    #: Jobs whose duration was at most each of the requested bucket bounds (cumulative, like Prometheus).
    duration_buckets: list[int]


@dataclass(frozen=True, slots=True)
class JobFilter:
    """What the jobs list is narrowed to. ``q`` matches a job id exactly or a substring of its arguments."""

    state: str | None = None
    queue: str | None = None
    task: str | None = None
    q: str | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        cond: list[ColumnElement[bool]] = []
        if self.state:
            cond.append(J.c.state == self.state)
        if self.queue:
            cond.append(J.c.queue == self.queue)
        if self.task:
            cond.append(J.c.task == self.task)
        if self.q:
            needle = self.q.strip()
            like = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            match = or_(J.c.args.like(like, escape="\\"), J.c.kwargs.like(like, escape="\\"))
            if needle.isdecimal() and int(needle) < 2**63:  # beyond a 64-bit id: no job has it
                match = or_(J.c.id == int(needle), match)
            cond.append(match)
        return cond


class JobReadQueries(TableQueries):
    """Counts, feeds and lists of jobs for monitoring. Read-only; every method takes the caller's connection."""

    def job_live_counts(self, conn: Connection) -> dict[str, dict[str, int]]:
        """queue -> state -> count for the states a job waits or runs in, one query per state so each can use
        its partial index (``available`` is an index-only scan of the fetch index, which holds the queue)."""
        out: dict[str, dict[str, int]] = {}
        for state in (S.AVAILABLE.value, S.SCHEDULED.value, S.RETRYABLE.value, S.EXECUTING.value):
            for queue, n in conn.execute(select(J.c.queue, func.count()).where(J.c.state == state).group_by(J.c.queue)):
                out.setdefault(queue, {})[state] = int(n)
        return out

    def job_finished_counts(self, conn: Connection) -> dict[str, dict[str, int]]:
        """queue -> state -> count over every retained finished job. The expensive one: cache it."""
        out: dict[str, dict[str, int]] = {}
        for state in FINISHED_STATES:
            q = select(J.c.queue, func.count()).where(*_finished(state)).group_by(J.c.queue)
            for queue, n in conn.execute(q):
                out.setdefault(queue, {})[state] = int(n)
        return out

    def job_head_of_line(self, conn: Connection, queues: Sequence[str]) -> dict[str, float]:
        """queue -> ``scheduled_at`` of the job each queue would run next (Sidekiq's queue latency is its
        age). One index probe per queue on the fetch index."""
        out: dict[str, float] = {}
        for queue in queues:
            at = conn.execute(
                select(J.c.scheduled_at)
                .where(J.c.state == S.AVAILABLE, J.c.queue == queue)
                .order_by(J.c.priority.desc(), J.c.id)
                .limit(1)
            ).scalar()
            if at is not None:
                out[queue] = float(at)
        return out

    def job_finished_series(
        self, conn: Connection, since: float, until: float, bucket: float
    ) -> list[tuple[float, str, str, int]]:
        """(bucket start, queue, state, count) of jobs finished in ``[since, until)``, in ``bucket``-second
        buckets. One range scan of the finished index per state."""
        b = func.floor(J.c.finished_at / bucket)
        out = []
        for state in FINISHED_STATES:
            rows = conn.execute(
                select(b, J.c.queue, func.count())
                .where(*_finished(state), J.c.finished_at >= since, J.c.finished_at < until)
                .group_by(b, J.c.queue)
            )
            out += [(float(k) * bucket, queue, state, int(n)) for k, queue, n in rows]
        return out

    def job_finished_aggregate(
        self, conn: Connection, state: str, start: float, end: float, slot: float, buckets: Sequence[float]
    ) -> list[FinishedAggregate]:
        """Jobs that finished in ``state`` in ``[start, end)``, per (queue, task, ``slot``-second slot): counts,
        summed durations and a duration histogram over ``buckets``. One range scan of the finished index."""
        duration = J.c.finished_at - J.c.attempted_at
        bucket_cols = [func.sum(case((duration <= b, 1), else_=0)) for b in buckets]
        slot_no = func.floor(J.c.finished_at / slot)
        rows = conn.execute(
            select(J.c.queue, J.c.task, slot_no, func.count(), func.sum(duration), *bucket_cols)
            .where(*_finished(state), J.c.finished_at >= start, J.c.finished_at < end)
            .group_by(J.c.queue, J.c.task, slot_no)
        ).all()
        return [
            FinishedAggregate(queue, task, float(k) * slot, int(n), float(dsum or 0.0), [int(c or 0) for c in counts])
            for queue, task, k, n, dsum, *counts in rows
        ]

    def job_finished_after(self, conn: Connection, after: float, limit: int) -> list[FinishedRow]:
        """Jobs that finished at or after ``after``, oldest first: the change feed of finished jobs (one index
        range scan per finished state, merged)."""
        cols = (J.c.id, J.c.queue, J.c.task, J.c.state, J.c.attempt, J.c.attempted_at, J.c.finished_at)
        rows: list[FinishedRow] = []
        for state in FINISHED_STATES:
            q = (
                select(*cols, J.c.scheduled_at)
                .where(*_finished(state), J.c.finished_at >= after)
                .order_by(J.c.finished_at, J.c.id)
                .limit(limit)
            )
            rows += [FinishedRow(*r) for r in conn.execute(q)]
        rows.sort(key=lambda r: (r.finished_at, r.id))
        return rows[:limit]

    def job_max_id(self, conn: Connection) -> int:
        """The newest job's id (0 when there is none): where the feed of inserted jobs starts."""
        return int(conn.execute(select(func.max(J.c.id))).scalar() or 0)

    def job_inserted_after(self, conn: Connection, after_id: int, limit: int) -> list[tuple[int, str, str, str]]:
        """(id, queue, task, state) of jobs inserted after ``after_id`` (by primary key)."""
        q = select(J.c.id, J.c.queue, J.c.task, J.c.state).where(J.c.id > after_id).order_by(J.c.id).limit(limit)
        return [(int(r[0]), r[1], r[2], r[3]) for r in conn.execute(q)]

    def job_executing(self, conn: Connection) -> list[dict[str, Any]]:
        """Every executing job with its worker and progress (decoded), through the executing partial index."""
        cols = (J.c.id, J.c.queue, J.c.task, J.c.worker_id, J.c.attempt, J.c.attempted_at, J.c.progress)
        rows = conn.execute(select(*cols, J.c.cancel_requested).where(J.c.state == S.EXECUTING)).mappings()
        out = []
        for r in rows:
            d = dict(r)
            d["progress"] = json.loads(d["progress"]) if d["progress"] else None
            out.append(d)
        return out

    def job_discarded(self, conn: Connection, limit: int = 50_000) -> list[tuple[int, str, str, float]]:
        """(id, task, queue, finished_at) of discarded jobs, newest first, through the finished index."""
        q = (
            select(J.c.id, J.c.task, J.c.queue, J.c.finished_at)
            .where(*_finished(S.DISCARDED.value))
            .order_by(J.c.finished_at.desc())
            .limit(limit)
        )
        return [(int(r[0]), r[1], r[2], float(r[3] or 0)) for r in conn.execute(q)]

    def job_search(self, conn: Connection, f: JobFilter, before_id: int | None, limit: int) -> list[dict[str, Any]]:
        """Whole rows of jobs matching ``f``, newest first, ``limit`` of them after the keyset cursor
        ``before_id``. Walks the primary key backwards and stops at ``limit`` matches."""
        cond = f.conditions()
        if before_id is not None:
            cond.append(J.c.id < before_id)
        q = select(J).where(and_(*cond)) if cond else select(J)
        return [dict(r) for r in conn.execute(q.order_by(J.c.id.desc()).limit(limit)).mappings()]
