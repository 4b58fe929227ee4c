"""Batches: a group of jobs with shared counts and progress, and a callback that runs exactly once.

The jobs' state changes count themselves into the batch row in the same transaction (see
``Driver.settle_batches``), so the counts are exact and the callback fires once, in the transaction that
finished the last job. ``on_complete`` runs when every job completed; ``on_failure`` when every job
finished and at least one was discarded. Callbacks receive the batch id and are built like any job of
their task (its queue, priority, attempts, timeout, lock and unique keys; :func:`callback_builder`), so they
are retried like any job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update

from conveyor.engine import clock
from conveyor.engine.job import InsertRow, JobSpec
from conveyor.engine.states import WAITING, JobState
from conveyor.errors import ConveyorError
from conveyor.store import schema

if TYPE_CHECKING:
    from conveyor.app import Conveyor
    from conveyor.engine.task import Task

B = schema.batches
J = schema.jobs


class BatchNotFoundError(ConveyorError):
    def __init__(self, batch_id: int) -> None:
        super().__init__(f"batch {batch_id} not found")


@dataclass(frozen=True, slots=True)
class BatchRecord:
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


def callback_builder(app: Conveyor) -> Callable[[str, int, str | None, float], InsertRow]:
    """What the driver calls to build a batch's callback job, inside the transaction that finished the batch.

    A task registered in this process gives the job its own options, exactly as ``task.enqueue(batch_id)``
    would; an unknown one (a process that does not import it) gets the defaults, like ``app.enqueue`` by name.
    Nothing here may raise: the transaction it runs in also records the last job's outcome."""

    def build(task: str, batch_id: int, queue: str | None, now: float) -> InsertRow:
        t = app.tasks.get(task)
        if t is not None:
            try:
                return app._row(t.job(batch_id), now)
            except ConveyorError:  # e.g. a callback whose signature cannot take the batch id: still run it
                pass
        attempts = app.settings.max_attempts
        return InsertRow(
            queue or "default", task, f"[{batch_id}]", "{}", JobState.AVAILABLE.value, 0, attempts, None, now, now
        )

    return build


def _task_name(app: Conveyor, task: Task[Any, Any] | str | None) -> tuple[str | None, str | None]:
    if task is None:
        return None, None
    if isinstance(task, str):
        t = app.tasks.get(task)
        return task, t.queue if t else None
    return task.name, task.queue


def create_batch(
    app: Conveyor,
    jobs: Iterable[JobSpec | dict[str, Any]],
    *,
    name: str,
    on_complete: Task[Any, Any] | str | None = None,
    on_failure: Task[Any, Any] | str | None = None,
) -> BatchRecord:
    """Insert the batch row and its jobs in one transaction: all of it exists, or none."""
    specs = [j if isinstance(j, JobSpec) else app._spec_from_mapping(j) for j in jobs]
    if not specs:
        raise ValueError(f"batch {name!r} has no jobs")
    done_name, done_queue = _task_name(app, on_complete)
    fail_name, fail_queue = _task_name(app, on_failure)
    now = clock.now()
    with app.driver.begin() as c:
        batch_id = c.execute(
            insert(B)
            .values(
                name=name,
                state="running",
                total=len(specs),
                completed=0,
                failed=0,
                cancelled=0,
                on_complete=done_name,
                on_failure=fail_name,
                callback_queue=done_queue or fail_queue,
                created_at=now,
            )
            .returning(B.c.id)
        ).scalar_one()
        for spec in specs:
            spec.batch_id = batch_id
        app.enqueue_many(specs, connection=c)
    return get_batch(app, batch_id)


def dispatch_chunks(
    app: Conveyor,
    task: Task[Any, Any],
    items: Sequence[Any],
    *,
    chunk: int = 250,
    name: str | None = None,
    on_complete: Task[Any, Any] | str | None = None,
    on_failure: Task[Any, Any] | str | None = None,
) -> BatchRecord:
    """One job per ``chunk`` items (the task receives the list as its first argument), as a batch."""
    if chunk < 1:
        raise ValueError("chunk must be >= 1")
    items = list(items)
    jobs = [task.job(items[i : i + chunk]) for i in range(0, len(items), chunk)]
    return create_batch(
        app, jobs, name=name or f"{task.name} x {len(items)}", on_complete=on_complete, on_failure=on_failure
    )


def _record(row: Any) -> BatchRecord:
    return BatchRecord(**{k: row[k] for k in BatchRecord.__slots__})


def get_batch(app: Conveyor, batch_id: int) -> BatchRecord:
    with app.driver.begin() as c:
        row = c.execute(select(B).where(B.c.id == batch_id)).mappings().first()
    if row is None:
        raise BatchNotFoundError(batch_id)
    return _record(row)


def list_batches(app: Conveyor, limit: int = 50, before_id: int | None = None) -> list[BatchRecord]:
    q = select(B).order_by(B.c.id.desc()).limit(limit)
    if before_id is not None:
        q = q.where(B.c.id < before_id)
    with app.driver.begin() as c:
        return [_record(r) for r in c.execute(q).mappings()]


def retry_failed(app: Conveyor, batch_id: int) -> int:
    """Put the batch's discarded jobs back in their queues; the batch runs again until they finish."""
    get_batch(app, batch_id)
    with app.driver.begin() as c:
        ids = [r[0] for r in c.execute(select(J.c.id).where(J.c.batch_id == batch_id, J.c.state == JobState.DISCARDED))]
    if ids:
        app.retry(ids)
    return len(ids)


def cancel_batch(app: Conveyor, batch_id: int) -> tuple[int, int]:
    """Cancel the batch's waiting jobs and ask its running ones to stop. Returns (cancelled, asked)."""
    get_batch(app, batch_id)
    now = clock.now()
    with app.driver.begin() as c:
        cancelled = c.execute(
            update(J)
            .where(J.c.batch_id == batch_id, J.c.state.in_(list(WAITING)))
            .values(state=JobState.CANCELLED, finished_at=now)
        ).rowcount
        if cancelled:
            app.driver.settle_batches(c.connection.driver_connection, {batch_id: [0, 0, cancelled]}, now)
        asked = c.execute(
            update(J).where(J.c.batch_id == batch_id, J.c.state == JobState.EXECUTING).values(cancel_requested=True)
        ).rowcount
    return int(cancelled), int(asked)
