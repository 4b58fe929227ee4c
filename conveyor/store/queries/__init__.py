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
* ``conveyor_batches``: :class:`BatchQueries` (``batch_*`` and ``settle_batches``, which the hot path runs in
  the transaction that finishes a batch's jobs); nothing per database but the raw placeholder style.
* ``conveyor_jobs``, read side: :class:`JobReadQueries` (``job_*``: the dashboard's counts, feeds and lists;
  the hot path and the admin writes stay in the driver classes); nothing per database.
* ``conveyor_job_errors``: :class:`JobErrorQueries` (``job_error_*``); nothing per database.
* ``conveyor_workers``: :class:`WorkerQueries` (``register_worker``, ``heartbeat_worker``,
  ``unregister_worker``, ``worker_list``); nothing per database.

Every driver also writes :meth:`TableQueries.insert_ignoring_conflicts` (``INSERT … ON CONFLICT DO
NOTHING`` as its SQLAlchemy dialect builds it). The shared driver suite for these tables is
``tests/store/test_driver_locks.py``, ``test_driver_rate_limits.py``, ``test_driver_schedules.py``,
``test_driver_batches.py`` and ``test_driver_monitoring.py``.
"""

from conveyor.store.queries.base import TableQueries, chunks
from conveyor.store.queries.batches import BatchQueries, BatchRecord
from conveyor.store.queries.job_errors import JobErrorQueries, error_class
from conveyor.store.queries.jobs import FinishedAggregate, FinishedRow, JobFilter, JobReadQueries
from conveyor.store.queries.locks import LockInfo, LockQueries
from conveyor.store.queries.rate_limits import RateLimitQueries
from conveyor.store.queries.schedule_runs import ScheduleRunQueries
from conveyor.store.queries.schedules import ScheduleQueries
from conveyor.store.queries.workers import WorkerQueries

__all__ = [
    "BatchQueries",
    "BatchRecord",
    "FinishedAggregate",
    "FinishedRow",
    "JobErrorQueries",
    "JobFilter",
    "JobReadQueries",
    "LockInfo",
    "LockQueries",
    "RateLimitQueries",
    "ScheduleQueries",
    "ScheduleRunQueries",
    "TableQueries",
    "WorkerQueries",
    "chunks",
    "error_class",
]
