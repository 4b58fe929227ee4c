"""Pipeline executions: one row per run of a pipeline for a shop, its counts, and its record errors.

The statuses and the moves between them are :data:`EXECUTION_TRANSITIONS`; every update below is guarded by
it in SQL (``WHERE status IN …``), so two workers finishing one execution cannot both succeed and a finished
execution is never reopened.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, select

from conveyor import InvalidStateError
from conveyor.commerce.store._sql import now
from conveyor.commerce.store.errors import ExecutionNotFoundError, RecordError
from conveyor.commerce.store.importers import ImportCounts
from conveyor.commerce.store.schema import execution_errors, pipeline_executions


class ExecutionStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    ERROR = "error"


#: From each status, the statuses an execution may move to. Completed and error are final.
EXECUTION_TRANSITIONS: dict[ExecutionStatus, frozenset[ExecutionStatus]] = {
    ExecutionStatus.QUEUED: frozenset({ExecutionStatus.RUNNING, ExecutionStatus.ERROR}),
    ExecutionStatus.RUNNING: frozenset({ExecutionStatus.COMPLETED, ExecutionStatus.ERROR}),
    ExecutionStatus.COMPLETED: frozenset(),
    ExecutionStatus.ERROR: frozenset(),
}


def _sources(target: ExecutionStatus) -> list[str]:
    return [s.value for s, targets in EXECUTION_TRANSITIONS.items() if target in targets]


@dataclass(frozen=True)
class Execution:
    """One run of a pipeline for a shop (or, for a supplier feed's import, of its import task: then ``shop_id``
    is ``None`` and ``feed_task_id`` names the task)."""

    id: int
    shop_id: int | None
    pipeline: str
    trigger: str
    status: ExecutionStatus
    job_id: int | None
    queued_at: float
    started_at: float | None
    finished_at: float | None
    counts: ImportCounts
    error: str | None
    feed_task_id: int | None = None


@dataclass(frozen=True)
class ExecutionError:
    """A record an execution could not import: its code (None if it had none) and why."""

    id: int
    execution_id: int
    record_code: str | None
    reason: str
    created_at: float
    line: int | None = None


_t = pipeline_executions
_COLUMNS = (
    _t.c.id,
    _t.c.shop_id,
    _t.c.pipeline,
    _t.c.trigger,
    _t.c.status,
    _t.c.job_id,
    _t.c.queued_at,
    _t.c.started_at,
    _t.c.finished_at,
    _t.c.read,
    _t.c.created,
    _t.c.updated,
    _t.c.unchanged,
    _t.c.failed,
    _t.c.error,
    _t.c.feed_task_id,
)


def _execution(row: Sequence[Any]) -> Execution:
    return Execution(
        id=row[0],
        shop_id=row[1],
        pipeline=row[2],
        trigger=row[3],
        status=ExecutionStatus(row[4]),
        job_id=row[5],
        queued_at=row[6],
        started_at=row[7],
        finished_at=row[8],
        counts=ImportCounts(*row[9:14]),
        error=row[14],
        feed_task_id=row[15],
    )


def start_execution(
    conn: Connection,
    shop_id: int | None,
    pipeline: str,
    trigger: str,
    *,
    queued: bool = False,
    job_id: int | None = None,
    feed_task_id: int | None = None,
) -> int:
    """Record a new execution, ``running`` now (or ``queued`` until :func:`mark_running`); returns its id.
    A feed import run passes ``shop_id=None`` and its ``feed_task_id``."""
    at = now()
    status = ExecutionStatus.QUEUED if queued else ExecutionStatus.RUNNING
    return int(
        conn.execute(
            _t.insert()
            .values(
                shop_id=shop_id,
                pipeline=pipeline,
                trigger=trigger,
                status=status.value,
                job_id=job_id,
                feed_task_id=feed_task_id,
                queued_at=at,
                started_at=None if queued else at,
            )
            .returning(_t.c.id)
        ).scalar_one()
    )


def mark_running(conn: Connection, execution_id: int, *, job_id: int | None = None) -> None:
    """Move a queued execution to running (its job started)."""
    values: dict[str, Any] = {"status": ExecutionStatus.RUNNING.value, "started_at": now()}
    if job_id is not None:
        values["job_id"] = job_id
    _transition(conn, execution_id, ExecutionStatus.RUNNING, values)


def add_counts(conn: Connection, execution_id: int, counts: ImportCounts) -> None:
    """Add a chunk's counts to a running execution, so the dashboard shows progress during a long import."""
    done = conn.execute(
        _t.update()
        .where(_t.c.id == execution_id, _t.c.status == ExecutionStatus.RUNNING.value)
        .values(
            read=_t.c.read + counts.read,
            created=_t.c.created + counts.created,
            updated=_t.c.updated + counts.updated,
            unchanged=_t.c.unchanged + counts.unchanged,
            failed=_t.c.failed + counts.failed,
        )
    )
    if done.rowcount != 1:
        _refuse(conn, execution_id, "add counts to it")


def finish_execution(
    conn: Connection, execution_id: int, *, counts: ImportCounts | None = None, error: str | None = None
) -> None:
    """Finish an execution: ``completed``, or ``error`` when ``error`` is given. ``counts``, when given,
    replace the counts accumulated so far (pass the totals; omit it after :func:`add_counts`)."""
    target = ExecutionStatus.COMPLETED if error is None else ExecutionStatus.ERROR
    values: dict[str, Any] = {"status": target.value, "finished_at": now(), "error": error}
    if counts is not None:
        values.update(
            read=counts.read,
            created=counts.created,
            updated=counts.updated,
            unchanged=counts.unchanged,
            failed=counts.failed,
        )
    _transition(conn, execution_id, target, values)


def _transition(conn: Connection, execution_id: int, target: ExecutionStatus, values: dict[str, Any]) -> None:
    done = conn.execute(_t.update().where(_t.c.id == execution_id, _t.c.status.in_(_sources(target))).values(**values))
    if done.rowcount != 1:
        _refuse(conn, execution_id, f"become {target.value}")


def _refuse(conn: Connection, execution_id: int, what: str) -> None:
    status = conn.execute(select(_t.c.status).where(_t.c.id == execution_id)).scalar_one_or_none()
    if status is None:
        raise ExecutionNotFoundError(execution_id)
    raise InvalidStateError(f"execution {execution_id} is {status}: it cannot {what}")


def get_execution(conn: Connection, execution_id: int) -> Execution:
    """One execution; :class:`ExecutionNotFoundError` if there is none."""
    row = conn.execute(select(*_COLUMNS).where(_t.c.id == execution_id)).first()
    if row is None:
        raise ExecutionNotFoundError(execution_id)
    return _execution(row)


def list_executions(
    conn: Connection,
    shop_id: int,
    *,
    pipeline: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[Execution]:
    """A shop's executions, newest first; pass the last id seen as ``before_id`` for the next page (keyset
    over ``ix_commerce_executions_shop`` / ``…_pipeline``: every page costs the same)."""
    query = select(*_COLUMNS).where(_t.c.shop_id == shop_id).order_by(_t.c.id.desc()).limit(limit)
    if pipeline is not None:
        query = query.where(_t.c.pipeline == pipeline)
    if before_id is not None:
        query = query.where(_t.c.id < before_id)
    return [_execution(row) for row in conn.execute(query)]


def record_errors(conn: Connection, execution_id: int, errors: Iterable[RecordError]) -> int:
    """Store the records an execution could not import (code and reason each); returns how many."""
    at = now()
    rows = [
        {
            "execution_id": execution_id,
            "record_code": e.code,
            "reason": str(e) if e.code is None else e.reason,
            "created_at": at,
        }
        for e in errors
    ]
    if rows:
        conn.execute(execution_errors.insert(), rows)
    return len(rows)


def list_errors(conn: Connection, execution_id: int, *, after_id: int = 0, limit: int = 100) -> list[ExecutionError]:
    """An execution's record errors in the order they were recorded, a page after ``after_id``."""
    e = execution_errors
    rows = conn.execute(
        select(e.c.id, e.c.execution_id, e.c.record_code, e.c.reason, e.c.created_at, e.c.line)
        .where(e.c.execution_id == execution_id, e.c.id > after_id)
        .order_by(e.c.id)
        .limit(limit)
    )
    return [ExecutionError(*row) for row in rows]
