"""Errors the scheduler raises. Each says what was wrong and what to do; nothing is written when one is raised.

They subclass :class:`conveyor.errors.ConveyorError`, so the CLI prints them as one line and exits 2.
"""

from __future__ import annotations

from conveyor.errors import ConveyorError


class SchedulerError(ConveyorError):
    """Base class of every scheduler error."""


class InvalidCronError(SchedulerError):
    """A cron expression cannot be parsed, or it never fires."""

    def __init__(self, expr: str, why: str = "") -> None:
        self.expr = expr
        detail = f": {why}" if why else ""
        super().__init__(
            f"invalid cron expression {expr!r}{detail} (expected five fields 'minute hour day month weekday', "
            "e.g. '*/5 * * * *', or @hourly/@daily/@weekly/@monthly/@yearly)"
        )


class UnknownTimezoneError(SchedulerError):
    """A time-zone name is not in the IANA database."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"unknown timezone {name!r}: use an IANA name such as 'Europe/Prague', 'America/New_York' or 'UTC'"
        )


class InvalidParamsError(SchedulerError):
    """Schedule parameters do not fit the task's signature (or its pydantic model)."""


class UnknownScheduleError(SchedulerError):
    """A schedule key is neither declared in code nor stored in the database."""

    def __init__(self, key: str, known: list[str] | None = None) -> None:
        self.key = key
        names = sorted(known or [])
        shown = ", ".join(names[:10]) + (f", … ({len(names)} in all)" if len(names) > 10 else "")
        super().__init__(f"unknown schedule {key!r} (declared: {shown or 'none'})")


class OrphanedScheduleError(SchedulerError):
    """The schedule is stored in the database but no longer declared in code."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(
            f"schedule {key!r} is orphaned (no longer declared in code): its history is kept, "
            "but it cannot be changed or run; declare it again with app.schedule() to revive it"
        )


class UnsupportedScheduleError(SchedulerError):
    """The schedule has no task yet, so it cannot be run."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(
            f"schedule {key!r} has no task yet (unsupported): give it one with app.schedule({key!r}, task=...)"
        )


class ScheduleEnqueueError(SchedulerError):
    """Building or enqueueing the schedule's job failed; no slot was claimed and no job written."""

    def __init__(self, key: str, cause: BaseException) -> None:
        self.key = key
        self.cause = cause
        super().__init__(f"schedule {key!r} could not enqueue its job: {type(cause).__name__}: {cause}")


class ScheduleOverlapError(SchedulerError):
    """A manual trigger was refused because the schedule's previous job is still waiting or running."""
