"""Cron evaluation, the schedule catalog, ticking and run history.

Declare schedules on the application (``app.schedule(...)``); operate them with ``conveyor schedule …`` or
through ``app.schedules`` (a :class:`Catalog`). See docs/scheduler.md.
"""

from conveyor.scheduler.catalog import Catalog, RunRecord, ScheduleEntry, ScheduleView, TickReport
from conveyor.scheduler.cron import Cron, daily_at, every_minutes, hourly, validate_cron, weekly
from conveyor.scheduler.errors import (
    InvalidCronError,
    InvalidParamsError,
    OrphanedScheduleError,
    ScheduleEnqueueError,
    ScheduleOverlapError,
    SchedulerError,
    UnknownScheduleError,
    UnknownTimezoneError,
    UnsupportedScheduleError,
)
from conveyor.scheduler.loop import run_scheduler

__all__ = [
    "Catalog",
    "Cron",
    "InvalidCronError",
    "InvalidParamsError",
    "OrphanedScheduleError",
    "RunRecord",
    "ScheduleEnqueueError",
    "ScheduleEntry",
    "ScheduleOverlapError",
    "ScheduleView",
    "SchedulerError",
    "TickReport",
    "UnknownScheduleError",
    "UnknownTimezoneError",
    "UnsupportedScheduleError",
    "daily_at",
    "every_minutes",
    "hourly",
    "run_scheduler",
    "validate_cron",
    "weekly",
]
