"""The application object: configuration, the task registry and the enqueue API."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload

from conveyor.config import Settings
from conveyor.coordination.keys import Unique
from conveyor.engine import clock
from conveyor.engine.job import InsertRow, JobRecord, JobSpec, encode_payload
from conveyor.engine.retry import RetryPolicy
from conveyor.engine.states import JobState
from conveyor.engine.task import Task
from conveyor.errors import ConfigurationError, SerializationError, UnknownTaskError
from conveyor.store import open_driver
from conveyor.store.base import Driver

if TYPE_CHECKING:
    from datetime import timedelta

    from sqlalchemy.engine import Engine

    from conveyor.coordination.batches import BatchRecord
    from conveyor.coordination.locks import Lock
    from conveyor.coordination.ratelimit import RateLimit
    from conveyor.scheduler.catalog import Catalog, ScheduleEntry

P = ParamSpec("P")
R = TypeVar("R")

_AVAILABLE, _SCHEDULED = JobState.AVAILABLE.value, JobState.SCHEDULED.value
_SPEC_KEYS = {
    "unique_key",
    "task",
    "args",
    "kwargs",
    "queue",
    "priority",
    "max_attempts",
    "timeout",
    "delay",
    "scheduled_at",
}


class Conveyor:
    """A Conveyor application: ``app = Conveyor("sqlite:///conveyor.db")``.

    Creating it opens nothing; the database is touched on first use.
    """

    def __init__(self, database_url: str | None = None, **settings: Any) -> None:
        if database_url is not None:
            settings["database_url"] = database_url
        self.settings = Settings(**settings)
        self.tasks: dict[str, Task[Any, Any]] = {}
        #: Declared queue settings (name -> global limit); written to the database when a worker starts.
        self.queues: dict[str, int | None] = {}
        #: Extra schemas (name -> (upgrade, check)) that packs built on Conveyor keep in the same database.
        self.schemas: dict[str, tuple[Callable[[Engine], None], Callable[[Engine], None]]] = {}
        #: Callbacks that extend the web app (routes, dashboard pages) when ``conveyor web`` builds it.
        self.web_extensions: list[Callable[[Any], None]] = []
        self._driver: Driver | None = None
        self._driver_pid = 0
        self._local = threading.local()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Conveyor {self.settings.database_url} tasks={len(self.tasks)}>"

    # ------------------------------------------------------------------ database
    @property
    def driver(self) -> Driver:
        """The database driver (created lazily; recreated in a forked child)."""
        pid = os.getpid()
        if self._driver is None or self._driver_pid != pid:
            with self._lock:
                if self._driver is None or self._driver_pid != pid:
                    if self._driver is not None:
                        # Forked: the parent's pooled connections are not ours to use or close.
                        self._driver.engine.dispose(close=False)
                    self._driver = open_driver(
                        self.settings.database_url, synchronous_commit=self.settings.postgres_synchronous_commit
                    )
                    self._driver_pid = pid
                    self._local = threading.local()
        return self._driver

    def _connection(self) -> Any:
        """This thread's hot-path connection for enqueues (kept open: no pool round trips)."""
        driver = self.driver
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = driver.connect()
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def migrate(self) -> None:
        """Create or upgrade Conveyor's tables (``conveyor db upgrade``)."""
        from conveyor.store.migrate import upgrade

        upgrade(self.driver.engine)
        for extra_upgrade, _ in self.schemas.values():
            extra_upgrade(self.driver.engine)

    def check_schema(self) -> None:
        """Raise :class:`~conveyor.errors.SchemaOutdatedError` unless the schema is current."""
        from conveyor.store.migrate import check_current

        check_current(self.driver.engine)
        for _, extra_check in self.schemas.values():
            extra_check(self.driver.engine)

    def add_schema(self, name: str, *, upgrade: Callable[[Engine], None], check: Callable[[Engine], None]) -> None:
        """Register a pack's own tables (with their own migration history) in the same database:
        ``migrate()``/``conveyor db upgrade`` upgrade them too, and workers and ``/readyz`` check them."""
        self.schemas[name] = (upgrade, check)

    def add_web_extension(self, extend: Callable[[Any], None]) -> None:
        """Call ``extend(fastapi_app)`` when the web app is built, to add API routes and dashboard pages
        (``conveyor.web.dashboard.add_nav_item`` puts a page in the navigation)."""
        self.web_extensions.append(extend)

    def close(self) -> None:
        """Close this thread's connection and the connection pool."""
        self._drop_connection()
        if self._driver is not None and self._driver_pid == os.getpid():
            self._driver.close()
        self._driver = None

    # ------------------------------------------------------------------ tasks
    @overload
    def task(self, fn: Callable[P, R], /) -> Task[P, R]: ...

    @overload
    def task(
        self,
        fn: None = None,
        /,
        *,
        name: str | None = None,
        queue: str = "default",
        priority: int = 0,
        max_attempts: int | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
        store_result: bool = False,
        lock: str | None = None,
        unique: Unique | None = None,
    ) -> Callable[[Callable[P, R]], Task[P, R]]: ...

    def task(
        self,
        fn: Callable[P, R] | None = None,
        /,
        *,
        name: str | None = None,
        queue: str = "default",
        priority: int = 0,
        max_attempts: int | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
        store_result: bool = False,
        lock: str | None = None,
        unique: Unique | None = None,
    ) -> Task[P, R] | Callable[[Callable[P, R]], Task[P, R]]:
        """Register a function as a task. Works bare (``@app.task``) or with options.

        ``max_attempts`` defaults to the worker's ``--tries`` (3); ``timeout`` to its ``--timeout``.
        ``lock="shop:{shop_id}"``: jobs with the same key (filled from the arguments) never run at the
        same time; the second waits in ``available`` without spending an attempt.
        ``unique=Unique(key=..., period=..., states=...)``: enqueueing a duplicate returns the existing id.
        """

        def register(f: Callable[P, R]) -> Task[P, R]:
            task_name = name or f.__name__
            if task_name in self.tasks:
                raise ConfigurationError(f"task {task_name!r} is registered twice")
            t: Task[P, R] = Task(
                self,
                f,
                name=task_name,
                queue=queue,
                priority=priority,
                max_attempts=max_attempts,
                retry=retry,
                timeout=timeout,
                store_result=store_result,
                lock=lock,
                unique=unique,
            )
            self.tasks[task_name] = t
            return t

        return register(fn) if fn is not None else register

    def get_task(self, name: str) -> Task[Any, Any]:
        try:
            return self.tasks[name]
        except KeyError:
            raise UnknownTaskError(name, list(self.tasks)) from None

    # ------------------------------------------------------------------ enqueue
    def _row(self, spec: JobSpec, now: float) -> InsertRow:
        """Validate and serialise one job. Runs for every job of a bulk insert: keep it lean."""
        task, queue = spec.task, spec.queue
        if not task or not isinstance(task, str):
            raise SerializationError("a job needs a task name")
        if not queue or not isinstance(queue, str):
            raise SerializationError(f"job of task {task!r} needs a queue name")
        args, kwargs = encode_payload(task, spec.args, spec.kwargs, self.settings.max_payload_bytes)
        at = now if spec.scheduled_at is None else spec.scheduled_at
        priority, attempts, timeout = spec.priority, spec.max_attempts, spec.timeout
        if type(priority) is not int or type(attempts) is not int or attempts < 1:
            raise SerializationError(
                f"job of task {task!r}: priority must be an integer and max_attempts an integer >= 1 "
                f"(got {priority!r} and {attempts!r})"
            )
        if timeout is not None and (not isinstance(timeout, int | float) or timeout <= 0):
            raise SerializationError(f"job of task {task!r}: timeout must be a number of seconds > 0")
        state = _AVAILABLE if at <= now else _SCHEDULED
        return InsertRow(
            queue,
            task,
            args,
            kwargs,
            state,
            priority,
            attempts,
            timeout,
            now,
            at,
            spec.lock_key,
            spec.unique_key,
            spec.unique_states,
            spec.batch_id,
        )

    def _insert(self, rows: Sequence[InsertRow], connection: Any) -> list[int]:
        driver = self.driver
        if connection is not None:
            raw = connection.connection.driver_connection
            return driver.insert_jobs(raw, rows, in_transaction=True)
        conn = self._connection()
        try:
            return driver.insert_jobs(conn, rows)
        except Exception as exc:
            if driver.is_disconnect(exc):
                self._drop_connection()  # next call reconnects; we never re-send a write blindly
            raise

    def enqueue_spec(self, spec: JobSpec, *, connection: Any = None) -> int:
        """Insert one job described by a :class:`JobSpec`; returns its id."""
        return self._insert([self._row(spec, clock.now())], connection)[0]

    def enqueue(
        self,
        task: str,
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        *,
        queue: str | None = None,
        priority: int | None = None,
        delay: float = 0,
        scheduled_at: float | None = None,
        max_attempts: int | None = None,
        timeout: float | None = None,
        unique_key: str | None = None,
        connection: Any = None,
    ) -> int:
        """Queue a job by task name. Options default to the task's when it is registered here."""
        return self.enqueue_spec(
            self._spec_from_mapping(
                {
                    "task": task,
                    "args": list(args or []),
                    "kwargs": kwargs or {},
                    "queue": queue,
                    "priority": priority,
                    "delay": delay,
                    "scheduled_at": scheduled_at,
                    "max_attempts": max_attempts,
                    "timeout": timeout,
                    "unique_key": unique_key,
                }
            ),
            connection=connection,
        )

    def _spec_from_mapping(self, d: dict[str, Any]) -> JobSpec:
        unknown = set(d) - _SPEC_KEYS
        if unknown:
            raise SerializationError(f"unknown job option(s): {', '.join(sorted(unknown))}")
        name = d.get("task")
        if not isinstance(name, str):
            raise SerializationError("a job needs a task name")
        t = self.tasks.get(name)
        args, kwargs = list(d.get("args") or []), d.get("kwargs") or {}
        if not isinstance(kwargs, dict):
            raise SerializationError(f"kwargs of task {name!r} must be a dict, got {type(kwargs).__name__}")
        spec = t.job(*args, **kwargs) if t else JobSpec(task=name, args=args, kwargs=kwargs)
        if d.get("unique_key") is not None:
            spec.unique_key = str(d["unique_key"])
            spec.unique_states = spec.unique_states or Unique().states_text
        for key in ("queue", "priority", "max_attempts", "timeout"):
            if d.get(key) is not None:
                setattr(spec, key, d[key])
        if d.get("scheduled_at") is not None:
            spec.scheduled_at = float(d["scheduled_at"])
        elif d.get("delay"):
            spec.scheduled_at = clock.now() + float(d["delay"])
        return spec

    def enqueue_many(
        self, jobs: Iterable[JobSpec | dict[str, Any]], *, connection: Any = None, batch_size: int = 10_000
    ) -> list[int]:
        """Bulk insert: every job is validated first (nothing is written if one is bad), then
        written in batches of ``batch_size`` with one or two round trips each."""
        now = clock.now()
        rows = [self._row(j if isinstance(j, JobSpec) else self._spec_from_mapping(j), now) for j in jobs]
        ids: list[int] = []
        for i in range(0, len(rows), batch_size):
            ids.extend(self._insert(rows[i : i + batch_size], connection))
        return ids

    # ------------------------------------------------------------------ inspection & admin
    def get_job(self, job_id: int) -> JobRecord:
        """Everything about a job, with every attempt's error."""
        return self.driver.get_job(job_id)

    def retry(self, job_ids: Sequence[int]) -> None:
        """Put failed (discarded or cancelled) jobs back in their queues."""
        self._wake(self.driver.retry_jobs(list(job_ids), clock.now()))

    def retry_all_failed(self) -> int:
        """Put every discarded job back in its queue; returns how many."""
        queues = self.driver.retry_jobs(None, clock.now())
        self._wake(queues)
        return len(queues)

    def cancel(self, job_id: int) -> str:
        """Cancel a job. A waiting job never starts (returns ``"cancelled"``); a running one sees
        ``current_job().cancelled`` turn true and ends as cancelled when it returns, or is stopped at
        its timeout (``"requested"``); a finished job is left alone (``"finished"``)."""
        return self.driver.cancel(job_id, clock.now())

    def batch(
        self,
        jobs: Iterable[JobSpec | dict[str, Any]],
        *,
        name: str,
        on_complete: Task[Any, Any] | str | None = None,
        on_failure: Task[Any, Any] | str | None = None,
    ) -> BatchRecord:
        """Enqueue jobs as one batch with counts and progress; ``on_complete(batch_id)`` runs once when
        all completed, ``on_failure(batch_id)`` once when all finished and some were discarded."""
        from conveyor.coordination.batches import create_batch

        return create_batch(self, jobs, name=name, on_complete=on_complete, on_failure=on_failure)

    def dispatch_chunks(
        self,
        task: Task[Any, Any],
        items: Sequence[Any],
        *,
        chunk: int = 250,
        name: str | None = None,
        on_complete: Task[Any, Any] | str | None = None,
        on_failure: Task[Any, Any] | str | None = None,
    ) -> BatchRecord:
        """Split ``items`` into chunks, one job each (``task(chunk_items)``), as a batch."""
        from conveyor.coordination.batches import dispatch_chunks

        return dispatch_chunks(
            self, task, items, chunk=chunk, name=name, on_complete=on_complete, on_failure=on_failure
        )

    def get_batch(self, batch_id: int) -> BatchRecord:
        from conveyor.coordination.batches import get_batch

        return get_batch(self, batch_id)

    def queue(self, name: str, *, global_limit: int | None = None) -> None:
        """Declare a queue's settings. ``global_limit``: most jobs of this queue executing at once
        across every worker of the cluster (e.g. 2 for a shop API that allows 3 connections)."""
        if global_limit is not None and global_limit < 1:
            raise ValueError(f"queue {name!r}: global_limit must be >= 1")
        self.queues[name] = global_limit

    def _wake(self, queues: Iterable[str]) -> None:
        conn = self._connection()
        for q in set(queues):
            self.driver.notify(conn, q)

    def work(self, queues: Sequence[str] = ("default",), **options: Any) -> int:
        """Run a worker in this process (see ``conveyor work``); returns its exit code."""
        from conveyor.worker import WorkerOptions, run_worker

        return run_worker(self, WorkerOptions(queues=list(queues), **options))

    # ------------------------------------------------------------------ coordination
    def lock(self, key: str, *, ttl: float = 60.0, wait: float = 0.0) -> Lock:
        """A distributed named lock: ``with app.lock("snapshot:shop-1:orders", ttl=600) as lock: ...``.

        Raises :class:`~conveyor.errors.LockNotAcquired` (saying who holds it, since when) if it is not
        free within ``wait`` seconds. It expires ``ttl`` seconds after acquisition unless extended."""
        from conveyor.coordination.locks import Lock

        return Lock(self, key, ttl=ttl, wait=wait)

    def rate_limit(self, key: str, *, rate: float, per: float = 1.0, burst: int | None = None) -> RateLimit:
        """A token bucket shared by every process through the database: ``rate`` permits per ``per``
        seconds, up to ``burst`` at once. Use as a context manager or decorator."""
        from conveyor.coordination.ratelimit import RateLimit

        return RateLimit(self, key, rate=rate, per=per, burst=burst)

    # ------------------------------------------------------------------ scheduler
    @property
    def schedules(self) -> Catalog:
        """The schedule catalog (created on first use; see docs/scheduler.md)."""
        catalog: Catalog | None = self.__dict__.get("_schedules")
        if catalog is None:
            from conveyor.scheduler.catalog import Catalog

            catalog = self.__dict__["_schedules"] = Catalog(self)
        return catalog

    def schedule(
        self,
        key: str,
        *,
        task: Task[Any, Any] | str | None = None,
        cron: str,
        timezone: str = "UTC",
        params: dict[str, Any] | None = None,
        queue: str | None = None,
        overlap: bool = True,
        catch_up: float | timedelta | None = None,
        description: str = "",
        enabled: bool = True,
    ) -> ScheduleEntry:
        """Declare a schedule: the code's defaults; the database keeps the operator's overrides.

        ``app.schedule("orders.fetch_new", task=fetch_new_orders, cron="*/5 * * * *", timezone="Europe/Prague")``.
        Without ``task`` the entry is listed as unsupported and never enqueued. ``overlap=False`` skips a slot
        while the previous run's job still waits or runs; ``catch_up`` (seconds, default one interval) is how
        late a missed slot may still run once after downtime.
        """
        return self.schedules.add(
            key,
            task=task,
            cron=cron,
            timezone=timezone,
            params=params,
            queue=queue,
            overlap=overlap,
            catch_up=catch_up,
            description=description,
            enabled=enabled,
        )
