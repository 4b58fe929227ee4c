"""The job a task is running, reachable from inside the task with :func:`current_job`."""

from __future__ import annotations

import json
from contextvars import ContextVar

from conveyor.engine import clock


class JobContext:
    """What a running task knows about its job: ids, attempt, cancellation, its lease, and progress reporting."""

    __slots__ = (
        "_cancelled",
        "_lease_lost",
        "_lease_until",
        "_marked",
        "_pending",
        "attempt",
        "id",
        "max_attempts",
        "queue",
        "started_at",
        "task",
    )

    def __init__(self, id: int, task: str, queue: str, attempt: int, max_attempts: int) -> None:
        self.id, self.task, self.queue = id, task, queue
        self.attempt, self.max_attempts = attempt, max_attempts
        self._cancelled = False  # set by the worker's main thread when a cancel request is read
        self._pending: tuple[float, float | None, str | None, float] | None = None
        self.started_at = 0.0  # when the body began (epoch seconds)
        self._marked = False  # started_at written to the database
        self._lease_until = float("inf")  # set by the worker: the lease its last renewal gave this job
        self._lease_lost = False  # the worker's heartbeat found the job rescued by someone else

    def __repr__(self) -> str:
        return f"<JobContext {self.id} {self.task} attempt {self.attempt}/{self.max_attempts}>"

    @property
    def cancelled(self) -> bool:
        """True once someone asked to cancel this job (``conveyor jobs cancel``): stop soon, cleanly."""
        return self._cancelled

    @property
    def lease_lost(self) -> bool:
        """True once this worker may no longer hold the job: its lease ran out without a renewal (the
        worker stalled or lost its database) or the job was rescued and may run elsewhere. "Never twice at
        once" rests on the lease: a long task that writes somewhere outside its job should check this
        between steps and stop (raise) when it turns true; its outcome would be ignored anyway."""
        return self._lease_lost or clock.now() >= self._lease_until

    def progress(self, done: float, total: float | None = None, message: str | None = None) -> None:
        """Report progress (``done`` of ``total`` units, with an optional message such as "rows").

        Shown by ``conveyor jobs show/watch``, the API and the dashboard. Cheap enough for a tight loop:
        it only keeps the newest value; the worker writes it at most every 0.25 s."""
        self._pending = (done, total, message, clock.now())

    def take_progress(self) -> str | None:
        """The newest unwritten progress as JSON, if any (called by the worker)."""
        pending, self._pending = self._pending, None
        if pending is None:
            return None
        done, total, message, at = pending
        return json.dumps({"done": done, "total": total, "message": message, "at": at})


_current: ContextVar[JobContext | None] = ContextVar("conveyor_current_job", default=None)


def current_job() -> JobContext:
    """The job being executed. Raises ``RuntimeError`` outside a task."""
    job = _current.get()
    if job is None:
        raise RuntimeError("current_job() is only available inside a running task")
    return job
