"""The driver's SQL, grouped per table (River's ``river_job.sql``, ``river_queue.sql``, …).

Each module holds one mixin class for one table: the portable SQLAlchemy Core (or SQL text every supported
database accepts) lives there once, and ``Driver`` (:mod:`conveyor.store.base`) inherits every mixin. What
differs per database is an abstract method here, written in :mod:`conveyor.store.sqlite` and
:mod:`conveyor.store.postgres` only. Code outside ``conveyor/store/`` calls these methods and never
checks which database it is on.

* ``conveyor_locks``: :class:`LockQueries` (``lock_*``); nothing per database.
* ``conveyor_rate_limits``: :class:`RateLimitQueries` (``rate_limit_*``); nothing per database.
* ``conveyor_schedules``: :class:`ScheduleQueries` (``schedule_*``); ``schedule_set_next_at`` per database.
* ``conveyor_schedule_runs``: :class:`ScheduleRunQueries` (``schedule_run_*``); ``schedule_run_claim_slots``
  per database.

Every driver also writes :meth:`TableQueries.insert_ignoring_conflicts` (``INSERT … ON CONFLICT DO
NOTHING`` as its SQLAlchemy dialect builds it). The shared driver suite for these tables is
``tests/store/test_driver_locks.py``, ``test_driver_rate_limits.py`` and ``test_driver_schedules.py``.
"""

from conveyor.store.queries.base import TableQueries, chunks
from conveyor.store.queries.locks import LockInfo, LockQueries
from conveyor.store.queries.rate_limits import RateLimitQueries
from conveyor.store.queries.schedule_runs import ScheduleRunQueries
from conveyor.store.queries.schedules import ScheduleQueries

__all__ = [
    "LockInfo",
    "LockQueries",
    "RateLimitQueries",
    "ScheduleQueries",
    "ScheduleRunQueries",
    "TableQueries",
    "chunks",
]
