"""The scheduler's tables as SQLAlchemy Core metadata (created by migration 0002_scheduler).

* ``conveyor_schedules`` – one row per schedule key: the operator's overrides (NULL = the code's default),
  what the code declared last (so orphaned entries can still be shown), and ``next_at``, the next slot not
  yet considered, so a tick reads only the schedules that are due (``ix_conveyor_schedules_next``).
* ``conveyor_schedule_runs`` – one row per run. The unique ``(schedule_key, slot_at)`` index *is* the claim
  of a cron slot: whichever scheduler inserts it first runs the slot, every other one conflicts and moves on.
  Manual triggers have ``slot_at`` NULL (NULLs never conflict). ``job_id`` links the run to its job.

Times are epoch seconds (double precision), as in the engine's tables.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Float, Index, Integer, MetaData, String, Table, Text, text

metadata = MetaData()

IdType = BigInteger().with_variant(Integer(), "sqlite")

schedules = Table(
    "conveyor_schedules",
    metadata,
    Column("key", String(255), primary_key=True),
    # What the code declared at the last sync (shown for orphaned entries, compared to detect code changes).
    Column("task", String(255)),
    Column("description", Text, nullable=False, server_default=""),
    Column("declared_cron", String(255), nullable=False),
    Column("declared_timezone", String(64), nullable=False),
    # The operator's overrides; NULL means "as declared in code".
    Column("cron", String(255)),
    Column("timezone", String(64)),
    Column("params", Text),  # JSON object merged over the declared params
    Column("queue", String(128)),
    Column("enabled", Boolean),
    Column("orphaned", Boolean, nullable=False, server_default=text("false")),
    # Slots at or before this instant never fire (creation, a cron/timezone change, re-enabling).
    Column("active_since", Float, nullable=False),
    Column("next_at", Float),  # NULL: disabled, orphaned or without a task
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)
Index("ix_conveyor_schedules_next", schedules.c.next_at)

runs = Table(
    "conveyor_schedule_runs",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("schedule_key", String(255), nullable=False),
    Column("slot_at", Float),  # the cron slot; NULL for a manual trigger
    Column("kind", String(16), nullable=False),  # cron | catch_up | trigger
    Column("status", String(16), nullable=False),  # queued | skipped | completed | error
    Column("reason", Text),
    Column("job_id", BigInteger),
    Column("created_at", Float, nullable=False),
    Column("started_at", Float),
    Column("finished_at", Float),
    sqlite_autoincrement=True,
)
Index("ux_conveyor_schedule_runs_slot", runs.c.schedule_key, runs.c.slot_at, unique=True)
Index("ix_conveyor_schedule_runs_key", runs.c.schedule_key, runs.c.id)
Index(
    "ix_conveyor_schedule_runs_open",
    runs.c.job_id,
    postgresql_where=text("status = 'queued'"),
    sqlite_where=text("status = 'queued'"),
)
