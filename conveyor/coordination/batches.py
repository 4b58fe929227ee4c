"""Batches: a group of jobs with shared counts and progress, and a callback that runs exactly once.

The jobs' state changes count themselves into the batch row in the same transaction (the driver's
``settle_batches``, :mod:`conveyor.store.queries.batches`), so the counts are exact and the callback fires
once, in the transaction that finished the last job. ``on_complete`` runs when every job completed;
``on_failure`` when every job finished and at least one was discarded. Callbacks receive the batch id and
are built like any job of their task (its queue, priority, attempts, timeout, lock and unique keys;
:func:`callback_builder`), so they are retried like any job.

This module keeps what is not SQL (validating jobs, naming callbacks, messages); every read and write of
the batch table is a ``batch_*`` method of the driver.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from conveyor.engine import clock
from conveyor.engine.job import InsertRow, JobSpec
from conveyor.engine.states import JobState
from conveyor.errors import ConveyorError
from conveyor.store.queries.batches import BatchRecord

if TYPE_CHECKING:
    from conveyor.app import Conveyor
    from conveyor.engine.task import Task


class BatchNotFoundError(ConveyorError):
    def __init__(self, batch_id: int) -> None:
        super().__init__(f"batch {batch_id} not found")


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
    """Insert the batch row and its jobs in one transaction: all of it exists, or none. Every job is
    validated before anything is written."""
    specs = [j if isinstance(j, JobSpec) else app.job_spec(j) for j in jobs]
    if not specs:
        raise ValueError(f"batch {name!r} has no jobs")
    done_name, done_queue = _task_name(app, on_complete)
    fail_name, fail_queue = _task_name(app, on_failure)
    now = clock.now()
    with app.driver.begin() as c:
        batch_id = app.driver.batch_insert(
            c,
            name=name,
            total=len(specs),
            on_complete=done_name,
            on_failure=fail_name,
            callback_queue=done_queue or fail_queue,
            now=now,
        )
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


def get_batch(app: Conveyor, batch_id: int) -> BatchRecord:
    """The batch, or :class:`BatchNotFoundError`."""
    record = app.driver.batch_get(batch_id)
    if record is None:
        raise BatchNotFoundError(batch_id)
    return record


def list_batches(app: Conveyor, limit: int = 50, before_id: int | None = None) -> list[BatchRecord]:
    """Newest first; ``before_id`` pages on (pass the last id of the previous page)."""
    return app.driver.batch_list(limit, before_id)


def retry_failed(app: Conveyor, batch_id: int) -> int:
    """Put the batch's discarded jobs back in their queues; the batch runs again until they finish."""
    get_batch(app, batch_id)
    ids = app.driver.batch_discarded_job_ids(batch_id)
    if ids:
        app.retry(ids)
    return len(ids)


def cancel_batch(app: Conveyor, batch_id: int) -> tuple[int, int]:
    """Cancel the batch's waiting jobs and ask its running ones to stop. Returns (cancelled, asked)."""
    get_batch(app, batch_id)
    return app.driver.batch_cancel(batch_id, clock.now())


__all__ = [
    "BatchNotFoundError",
    "BatchRecord",
    "callback_builder",
    "cancel_batch",
    "create_batch",
    "dispatch_chunks",
    "get_batch",
    "list_batches",
    "retry_failed",
]
