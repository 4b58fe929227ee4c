"""The job a task is running, reachable from inside the task with :func:`current_job`."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class JobContext:
    id: int
    task: str
    queue: str
    attempt: int
    max_attempts: int


_current: ContextVar[JobContext | None] = ContextVar("conveyor_current_job", default=None)


def current_job() -> JobContext:
    """The job being executed. Raises ``RuntimeError`` outside a task."""
    job = _current.get()
    if job is None:
        raise RuntimeError("current_job() is only available inside a running task")
    return job
