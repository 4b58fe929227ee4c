"""Read-side queries for the dashboard, the HTTP API and ``/metrics`` (portable SQLAlchemy Core).

Every query here is shaped to stay fast on a table with millions of finished jobs: counts of the waiting
and executing states go through the partial indexes of those states (one query per index, so the
planner can use it), finished jobs are read through ``ix_conveyor_jobs_finished`` (state, finished_at)
by time range, and lists page by keyset (``id < cursor``), never OFFSET. The one expensive query,
:func:`finished_counts` (a count over every retained finished job), is meant to be run on a slow
cadence by :class:`conveyor.web.monitor.Monitor` and cached.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from conveyor.engine.states import JobState
from conveyor.scheduler import schema as sched
from conveyor.store import schema

S = JobState
J = schema.jobs
E = schema.job_errors
FINISHED_STATES = (S.COMPLETED.value, S.DISCARDED.value, S.CANCELLED.value)


def live_counts(conn: Connection) -> dict[str, dict[str, int]]:
    """queue -> state -> count for the states a job waits or runs in, one query per state so each can use
    its partial index (``available`` is an index-only scan of the fetch index, which holds the queue)."""
    out: dict[str, dict[str, int]] = {}
    for queue, n in conn.execute(
        select(J.c.queue, func.count()).where(J.c.state == S.AVAILABLE.value).group_by(J.c.queue)
    ):
        out.setdefault(queue, {})[S.AVAILABLE.value] = int(n)
    for state in (S.SCHEDULED.value, S.RETRYABLE.value, S.EXECUTING.value):
        for queue, n in conn.execute(select(J.c.queue, func.count()).where(J.c.state == state).group_by(J.c.queue)):
            out.setdefault(queue, {})[state] = int(n)
    return out


def finished_counts(conn: Connection) -> dict[str, dict[str, int]]:
    """queue -> state -> count over every retained finished job. The expensive one: cache it."""
    out: dict[str, dict[str, int]] = {}
    for state in FINISHED_STATES:
        for queue, n in conn.execute(select(J.c.queue, func.count()).where(J.c.state == state).group_by(J.c.queue)):
            out.setdefault(queue, {})[state] = int(n)
    return out


def queue_settings(conn: Connection) -> dict[str, tuple[bool, int | None]]:
    """queue -> (paused, global limit) for every queue with settings."""
    Q = schema.queues
    return {n: (bool(p), g) for n, p, g in conn.execute(select(Q.c.name, Q.c.paused, Q.c.global_limit))}


def head_of_line(conn: Connection, queues: Sequence[str]) -> dict[str, float]:
    """queue -> ``scheduled_at`` of the job each queue would run next (Sidekiq's queue latency is its age).
    One index probe per queue on the fetch index."""
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


def finished_between(conn: Connection, start: float, end: float | None = None) -> dict[str, dict[str, int]]:
    """queue -> state -> jobs that finished in ``[start, end)``. One range scan of the finished index per
    state: with all three states in one ``IN`` PostgreSQL reads the partial index's predicate as implied
    and scans the whole index for the time range."""
    out: dict[str, dict[str, int]] = {}
    for state in FINISHED_STATES:
        cond = [J.c.state == state, J.c.finished_at >= start]
        if end is not None:
            cond.append(J.c.finished_at < end)
        for queue, n in conn.execute(select(J.c.queue, func.count()).where(*cond).group_by(J.c.queue)):
            out.setdefault(queue, {})[state] = int(n)
    return out


def finished_series(conn: Connection, since: float, until: float, bucket: float) -> list[tuple[float, str, str, int]]:
    """(bucket start, queue, state, count) of jobs finished in ``[since, until)``, in ``bucket``-second buckets."""
    b = func.floor(J.c.finished_at / bucket)
    out = []
    for state in FINISHED_STATES:
        rows = conn.execute(
            select(b, J.c.queue, func.count())
            .where(J.c.state == state, J.c.finished_at >= since, J.c.finished_at < until)
            .group_by(b, J.c.queue)
        )
        out += [(float(k) * bucket, queue, state, int(n)) for k, queue, n in rows]
    return out


@dataclass(frozen=True, slots=True)
class FinishedRow:
    id: int
    queue: str
    task: str
    state: str
    attempt: int
    attempted_at: float | None
    finished_at: float
    scheduled_at: float


def finished_after(conn: Connection, after: float, limit: int) -> list[FinishedRow]:
    """Jobs that finished at or after ``after``, oldest first: the change feed of finished jobs (one index
    range scan per finished state, merged)."""
    cols = (J.c.id, J.c.queue, J.c.task, J.c.state, J.c.attempt, J.c.attempted_at, J.c.finished_at, J.c.scheduled_at)
    rows: list[FinishedRow] = []
    for state in FINISHED_STATES:
        rows += [
            FinishedRow(*r)
            for r in conn.execute(
                select(*cols)
                .where(J.c.state == state, J.c.finished_at >= after)
                .order_by(J.c.finished_at, J.c.id)
                .limit(limit)
            )
        ]
    rows.sort(key=lambda r: (r.finished_at, r.id))
    return rows[:limit]


def max_job_id(conn: Connection) -> int:
    return int(conn.execute(select(func.max(J.c.id))).scalar() or 0)


def inserted_after(conn: Connection, after_id: int, limit: int) -> list[tuple[int, str, str, str]]:
    """(id, queue, task, state) of jobs inserted after ``after_id`` (by primary key)."""
    return [
        (int(r[0]), r[1], r[2], r[3])
        for r in conn.execute(
            select(J.c.id, J.c.queue, J.c.task, J.c.state).where(J.c.id > after_id).order_by(J.c.id).limit(limit)
        )
    ]


def executing(conn: Connection) -> list[dict[str, Any]]:
    """Every executing job with its worker and progress (through the executing partial index)."""
    rows = conn.execute(
        select(
            J.c.id,
            J.c.queue,
            J.c.task,
            J.c.worker_id,
            J.c.attempt,
            J.c.attempted_at,
            J.c.progress,
            J.c.cancel_requested,
        ).where(J.c.state == S.EXECUTING)
    ).mappings()
    out = []
    for r in rows:
        d = dict(r)
        d["progress"] = json.loads(d["progress"]) if d["progress"] else None
        out.append(d)
    return out


def workers(conn: Connection) -> list[dict[str, Any]]:
    W = schema.workers
    return [dict(r) for r in conn.execute(select(W).order_by(W.c.started_at)).mappings()]


def error_class(error: str | None) -> str:
    """``"ValueError: bad row"`` -> ``"ValueError"``; anything else is grouped under its first word."""
    if not error:
        return "unknown"
    head = error.split(":", 1)[0].strip()
    return head if head and " " not in head else (error.split() or ["unknown"])[0]


def last_errors(conn: Connection, job_ids: Sequence[int]) -> dict[int, str]:
    """job id -> the message of its newest error."""
    out: dict[int, str] = {}
    for start in range(0, len(job_ids), 500):
        chunk = list(job_ids[start : start + 500])
        for job_id, error in conn.execute(
            select(E.c.job_id, E.c.error).where(E.c.job_id.in_(chunk)).order_by(E.c.job_id, E.c.id)
        ):
            out[int(job_id)] = error
    return out


def failed_jobs(conn: Connection, limit: int = 50_000) -> list[tuple[int, str, str, float]]:
    """(id, task, queue, finished_at) of discarded jobs, newest first, through the finished index."""
    return [
        (int(r[0]), r[1], r[2], float(r[3] or 0))
        for r in conn.execute(
            select(J.c.id, J.c.task, J.c.queue, J.c.finished_at)
            .where(J.c.state == S.DISCARDED)
            .order_by(J.c.finished_at.desc())
            .limit(limit)
        )
    ]


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
            text = self.q.strip()
            like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            match = or_(J.c.args.like(like, escape="\\"), J.c.kwargs.like(like, escape="\\"))
            if text.isdecimal() and int(text) < 2**63:  # beyond a 64-bit id: no job has it
                match = or_(J.c.id == int(text), match)
            cond.append(match)
        return cond


def search_jobs(conn: Connection, f: JobFilter, before_id: int | None, limit: int) -> list[dict[str, Any]]:
    """Jobs matching ``f``, newest first, ``limit`` rows after the keyset cursor ``before_id``."""
    cond = f.conditions()
    if before_id is not None:
        cond.append(J.c.id < before_id)
    q = select(J).where(and_(*cond)) if cond else select(J)
    return [dict(r) for r in conn.execute(q.order_by(J.c.id.desc()).limit(limit)).mappings()]


def retry_candidates(conn: Connection, queue: str | None, task: str | None) -> list[int]:
    """Ids of discarded jobs, optionally of one queue/task (for a filtered bulk retry)."""
    cond: list[ColumnElement[bool]] = [J.c.state == S.DISCARDED]
    if queue:
        cond.append(J.c.queue == queue)
    if task:
        cond.append(J.c.task == task)
    return [int(i) for (i,) in conn.execute(select(J.c.id).where(*cond))]


def schedule_of_job(conn: Connection, job_id: int) -> tuple[str, int] | None:
    """(schedule key, run id) if the job was queued by the scheduler."""
    R = sched.runs
    row = conn.execute(select(R.c.schedule_key, R.c.id).where(R.c.job_id == job_id).limit(1)).first()
    return None if row is None else (row[0], int(row[1]))


def runs_after(conn: Connection, after_id: int, limit: int = 200) -> list[dict[str, Any]]:
    """Schedule runs recorded after ``after_id`` (the change feed of fired schedules)."""
    R = sched.runs
    return [
        dict(r)
        for r in conn.execute(
            select(R.c.id, R.c.schedule_key, R.c.kind, R.c.status, R.c.job_id, R.c.created_at)
            .where(R.c.id > after_id)
            .order_by(R.c.id)
            .limit(limit)
        ).mappings()
    ]


def max_run_id(conn: Connection) -> int:
    return int(conn.execute(select(func.max(sched.runs.c.id))).scalar() or 0)


def batches_finished_after(conn: Connection, after: float) -> list[dict[str, Any]]:
    B = schema.batches
    return [
        dict(r)
        for r in conn.execute(
            select(B.c.id, B.c.name, B.c.state, B.c.total, B.c.completed, B.c.failed, B.c.cancelled, B.c.finished_at)
            .where(B.c.finished_at >= after)
            .order_by(B.c.finished_at)
        ).mappings()
    ]


def failed_of_batch(conn: Connection, batch_id: int, limit: int) -> list[dict[str, Any]]:
    """A batch's failed (discarded) and cancelled jobs, newest first."""
    return [
        dict(r)
        for r in conn.execute(
            select(J)
            .where(J.c.batch_id == batch_id, J.c.state.in_([S.DISCARDED.value, S.CANCELLED.value]))
            .order_by(J.c.id.desc())
            .limit(limit)
        ).mappings()
    ]
