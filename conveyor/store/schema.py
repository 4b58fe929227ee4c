"""The engine's tables as SQLAlchemy Core metadata.

This is the reference the Alembic migrations were written from and what admin queries are built on.
Times are epoch seconds (double precision): see :mod:`conveyor.engine.clock`.

Index design (each job row changes state 2–3 times, and every index that covers the new row version is
written on each change, so indexes are partial and each covers one phase of a job's life):

* ``ix_conveyor_jobs_fetch`` – available jobs in fetch order (queue, priority desc, id).
* ``ix_conveyor_jobs_stage`` – scheduled/retryable jobs by due time, for promotion to available.
* ``ix_conveyor_jobs_executing`` – executing jobs by lease expiry, for rescue and timeouts.
* ``ix_conveyor_jobs_finished`` – finished jobs by state and time, for the failed store and pruning.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

metadata = MetaData()

# SQLite only aliases ROWID for "INTEGER PRIMARY KEY"; BIGINT would not autoincrement there.
IdType = BigInteger().with_variant(Integer(), "sqlite")

jobs = Table(
    "conveyor_jobs",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("queue", String(128), nullable=False),
    Column("task", String(255), nullable=False),
    Column("args", Text, nullable=False),
    Column("kwargs", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("priority", Integer, nullable=False, server_default="0"),
    Column("attempt", Integer, nullable=False, server_default="0"),
    Column("max_attempts", Integer, nullable=False),
    Column("timeout", Float),
    Column("created_at", Float, nullable=False),
    Column("scheduled_at", Float, nullable=False),
    Column("attempted_at", Float),
    Column("finished_at", Float),
    Column("lease_expires_at", Float),
    Column("worker_id", String(128)),
    Column("result", Text),
    # coordination (migration 0003)
    Column("lock_key", String(255)),
    Column("unique_key", String(255)),
    Column("unique_states", String(128)),
    Column("batch_id", BigInteger),
    Column("progress", Text),
    Column("cancel_requested", Boolean, nullable=False, server_default=text("false")),
    # attempts and crashes (migration 0005): the body of the current attempt began at; worker deaths while running
    Column("started_at", Float),
    Column("crashes", Integer, nullable=False, server_default="0"),
    sqlite_autoincrement=True,
)

Index(
    "ix_conveyor_jobs_fetch",
    jobs.c.queue,
    jobs.c.priority.desc(),
    jobs.c.id,
    postgresql_where=text("state = 'available'"),
    sqlite_where=text("state = 'available'"),
)
Index(
    "ix_conveyor_jobs_stage",
    jobs.c.scheduled_at,
    postgresql_where=text("state IN ('scheduled', 'retryable')"),
    sqlite_where=text("state IN ('scheduled', 'retryable')"),
)
Index(
    "ix_conveyor_jobs_executing",
    jobs.c.lease_expires_at,
    postgresql_where=text("state = 'executing'"),
    sqlite_where=text("state = 'executing'"),
)
#: The predicate of ``ix_conveyor_jobs_finished``. SQLite uses a partial index only when the query's WHERE
#: repeats the index's predicate term for term (``state = 'completed'`` does not imply it there, as it does
#: for PostgreSQL), so queries on finished jobs add this text verbatim.
FINISHED_WHERE = "state IN ('completed', 'discarded', 'cancelled')"
Index(
    "ix_conveyor_jobs_finished",
    jobs.c.state,
    jobs.c.finished_at,
    postgresql_where=text(FINISHED_WHERE),
    sqlite_where=text(FINISHED_WHERE),
)
# coordination (migration 0003). The unique key is enforced only in the states the job lists itself.
Index(
    "ux_conveyor_jobs_unique",
    jobs.c.unique_key,
    unique=True,
    postgresql_where=text("unique_key IS NOT NULL AND strpos(unique_states, ',' || state || ',') > 0"),
    sqlite_where=text("unique_key IS NOT NULL AND instr(unique_states, ',' || state || ',') > 0"),
)
Index(
    "ix_conveyor_jobs_batch",
    jobs.c.batch_id,
    jobs.c.state,
    postgresql_where=text("batch_id IS NOT NULL"),
    sqlite_where=text("batch_id IS NOT NULL"),
)
Index(
    "ix_conveyor_jobs_lock_executing",
    jobs.c.lock_key,
    unique=True,
    postgresql_where=text("lock_key IS NOT NULL AND state = 'executing'"),
    sqlite_where=text("lock_key IS NOT NULL AND state = 'executing'"),
)

job_errors = Table(
    "conveyor_job_errors",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("job_id", BigInteger, nullable=False, index=True),
    Column("attempt", Integer, nullable=False),
    Column("at", Float, nullable=False),
    Column("error", Text, nullable=False),
    Column("traceback", Text),
    sqlite_autoincrement=True,
)

queues = Table(
    "conveyor_queues",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("paused", Boolean, nullable=False, server_default=text("false")),
    Column("updated_at", Float, nullable=False),
    Column("global_limit", Integer),
)

workers = Table(
    "conveyor_workers",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("hostname", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("queues", Text, nullable=False),
    Column("processes", Integer, nullable=False),
    Column("concurrency", Integer, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("heartbeat_at", Float, nullable=False),
)

#: Named locks (``app.lock``) and the locks of jobs declared with ``lock=`` (key ``job:<lock key>``).
locks = Table(
    "conveyor_locks",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("holder", String(255), nullable=False),
    Column("acquired_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)

#: Token buckets shared by every worker (``app.rate_limit``).
rate_limits = Table(
    "conveyor_rate_limits",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

batches = Table(
    "conveyor_batches",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False),
    Column("state", String(16), nullable=False),
    Column("total", Integer, nullable=False),
    Column("completed", Integer, nullable=False, server_default="0"),
    Column("failed", Integer, nullable=False, server_default="0"),
    Column("cancelled", Integer, nullable=False, server_default="0"),
    Column("on_complete", String(255)),
    Column("on_failure", String(255)),
    Column("callback_queue", String(128)),
    Column("callback_job_id", BigInteger),
    Column("created_at", Float, nullable=False),
    Column("finished_at", Float),
    sqlite_autoincrement=True,
)
Index("ix_conveyor_batches_created", batches.c.created_at)
