"""The application object: configuration, the task registry and the enqueue API."""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload

from conveyor.config import Settings
from conveyor.coordination.keys import Unique
from conveyor.engine import clock
from conveyor.engine.job import InsertRow, JobRecord, JobSpec, encode_payload
from conveyor.engine.retry import RetryPolicy
from conveyor.engine.states import JobState
from conveyor.engine.task import Task
from conveyor.errors import (
    ConfigurationError,
    InvalidJobError,
    SerializationError,
    UnknownQueueError,
    UnknownTaskError,
)
from conveyor.store import open_driver
from conveyor.store.base import Driver, QueueStats

if TYPE_CHECKING:
    from datetime import timedelta

    from sqlalchemy import Connection
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
#: Integer columns (priority, max_attempts) are 32-bit on every database.
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_QUEUE_MAX, _TASK_MAX, _KEY_MAX = 128, 255, 255  # column widths


def check_queue_name(name: object) -> str:
    """A queue name a worker can serve (``work --queue a,b`` splits on commas): 1-128 characters, no comma,
    whitespace or control character. Raises :class:`InvalidJobError` (one line) otherwise."""
    if not isinstance(name, str):
        raise InvalidJobError(f"a queue name must be a string, got {type(name).__name__}")
    if not name or len(name) > _QUEUE_MAX:
        raise InvalidJobError(f"queue name must be 1-{_QUEUE_MAX} characters (got {len(name)})")
    if "," in name or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in name):
        raise InvalidJobError(
            f"queue name {name[:40]!r} cannot contain a comma, whitespace or a control character: "
            "a worker's --queue could never name it"
        )
    return name


def _check_text(value: object, what: str, max_len: int) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidJobError(f"{what} must be a non-empty string, got {value!r:.40}")
    if len(value) > max_len:
        raise InvalidJobError(f"{what} is {len(value)} characters, over the limit of {max_len}")
    if "\x00" in value:
        raise InvalidJobError(f"{what} {value[:40]!r} contains a NUL byte")
    return value


def _seconds(value: object, what: str, *, allow_negative: bool = False) -> float:
    """A finite number of seconds (NaN and infinity would store a job that never runs)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidJobError(f"{what} must be a number of seconds, got {value!r:.40}")
    f = float(value)
    if not math.isfinite(f) or (f < 0 and not allow_negative):
        raise InvalidJobError(f"{what} must be a finite number of seconds{'' if allow_negative else ' >= 0'}, got {f}")
    return f


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
        #: Callbacks that add command groups to the ``conveyor`` command line.
        self.cli_extensions: list[Callable[[Any], None]] = []
        self._driver: Driver | None = None
        self._driver_pid = 0
        self._local = threading.local()
        self._lock = threading.Lock()
        self._good_queues: set[str] = set()  # queue names already checked (the bulk path checks each once)

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
                    from conveyor.coordination.batches import callback_builder

                    self._driver.build_callback = callback_builder(self)
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
        (with the helpers of :mod:`conveyor.web.extensions`: ``add_nav_item``, ``render``, cursors...)."""
        self.web_extensions.append(extend)

    def add_cli_extension(self, extend: Callable[[Any], None]) -> None:
        """Call ``extend(typer_app)`` when ``conveyor --app yourmodule:app ...`` builds its command line, to add
        a pack's command groups (``typer_app.add_typer(shop_cli, name="shop")``). Packs installed as
        distributions can instead declare an entry point in the ``conveyor.cli`` group."""
        self.cli_extensions.append(extend)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A read-write transaction on the application's database, for packs that keep their own tables
        next to Conveyor's: committed when the block ends, rolled back if it raises. On SQLite it takes the
        write lock at once (``BEGIN IMMEDIATE``), so a read-then-write inside it never fails as busy.
        Pass it as ``connection=`` to ``enqueue`` to queue jobs atomically with your own writes."""
        with self.driver.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def read_transaction(self) -> Iterator[Connection]:
        """A read-only transaction: one consistent snapshot that never blocks workers (on SQLite it does not
        take the write lock; dashboards and reports use it)."""
        with self.driver.read() as conn:
            yield conn

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

        ``max_attempts`` defaults to the ``max_attempts`` setting (``CONVEYOR_MAX_ATTEMPTS``, 3), fixed when
        a job is written; ``timeout`` to the worker's ``--timeout``.
        ``lock="shop:{shop_id}"``: jobs with the same key (filled from the arguments) never run at the
        same time; the second waits in ``available`` without spending an attempt.
        ``unique=Unique(key=..., period=..., states=...)``: enqueueing a duplicate returns the existing id.
        """

        check_queue_name(queue)

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
    def _check_task(self, task: object) -> None:
        """A task name: registered here, or (an app with no tasks, a pure producer) any sane name."""
        if not isinstance(task, str) or not task:
            raise InvalidJobError("a job needs a task name")
        if self.tasks and task not in self.tasks:
            raise UnknownTaskError(task, list(self.tasks))
        _check_text(task, "task name", _TASK_MAX)

    def _row(self, spec: JobSpec, now: float) -> InsertRow:
        """Validate and serialise one job. Runs for every job of a bulk insert: keep it lean (set lookups
        and type checks; the slower checks run once per distinct queue or task name)."""
        task, queue = spec.task, spec.queue
        if task not in self.tasks:
            self._check_task(task)
        if queue not in self._good_queues:
            check_queue_name(queue)
            self._good_queues.add(queue)
        args, kwargs = encode_payload(task, spec.args, spec.kwargs, self.settings.max_payload_bytes)
        at = now if spec.scheduled_at is None else spec.scheduled_at
        priority, attempts, timeout = spec.priority, spec.max_attempts, spec.timeout
        if attempts is None:  # resolved once, when written: the stored value is the rule everyone follows
            attempts = self.settings.max_attempts
        if (
            type(priority) is not int
            or type(attempts) is not int
            or not _INT_MIN <= priority <= _INT_MAX
            or not 1 <= attempts <= _INT_MAX
        ):
            raise InvalidJobError(
                f"job of task {task!r}: priority must be an integer in [-2**31, 2**31) and max_attempts an "
                f"integer in [1, 2**31) (got {priority!r:.40} and {attempts!r:.40})"
            )
        if timeout is not None and (type(timeout) not in (int, float) or not 0 < timeout < math.inf):
            raise InvalidJobError(
                f"job of task {task!r}: timeout must be a finite number of seconds > 0, got {timeout!r:.40}"
            )
        if type(at) not in (float, int) or not -math.inf < at < math.inf:
            raise InvalidJobError(f"job of task {task!r}: scheduled_at must be a finite epoch time, got {at!r:.40}")
        for key in (spec.lock_key, spec.unique_key):
            if key is not None and (len(key) > _KEY_MAX or "\x00" in key):
                _check_text(key, f"lock/unique key of task {task!r}", _KEY_MAX)
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

    def _insert(self, rows: Sequence[InsertRow], connection: Connection | None) -> list[int]:
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

    def enqueue_spec(self, spec: JobSpec, *, connection: Connection | None = None) -> int:
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
        connection: Connection | None = None,
    ) -> int:
        """Queue a job by task name; returns its id. Options default to the task's when it is registered here.

        Refused with a :class:`~conveyor.errors.ConveyorError` before anything is written: a task name this
        app does not register (when it registers any; an app without tasks may queue any name for workers
        elsewhere), ``args`` that are not a list/tuple or ``kwargs`` not a dict, arguments that do not fit
        the task's signature, a delay or time that is not a finite number, an unusable queue name, an
        out-of-range priority or max_attempts."""
        return self.enqueue_spec(
            self._spec_from_mapping(
                {
                    "task": task,
                    "args": [] if args is None else args,
                    "kwargs": {} if kwargs is None else kwargs,
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

    def job_spec(self, job: dict[str, Any]) -> JobSpec:
        """A job given as a mapping (``{"task": ..., "args": [...], "queue": ...}``, the keys ``enqueue``
        takes) as the validated :class:`JobSpec` ``enqueue_many`` and ``batch`` accept. Raises what
        ``enqueue`` raises for the same mapping, before anything is written."""
        return self._spec_from_mapping(job)

    def _spec_from_mapping(self, d: dict[str, Any]) -> JobSpec:
        unknown = set(d) - _SPEC_KEYS
        if unknown:
            raise SerializationError(f"unknown job option(s): {', '.join(sorted(unknown))}")
        name = d.get("task")
        t = self.tasks.get(name) if isinstance(name, str) else None
        if t is None:
            self._check_task(name)
        args, kwargs = d.get("args"), d.get("kwargs")
        args = [] if args is None else args
        kwargs = {} if kwargs is None else kwargs
        if not isinstance(args, list | tuple):
            raise InvalidJobError(f"args of task {name!r} must be a list, got {type(args).__name__}")
        if not isinstance(kwargs, dict):
            raise InvalidJobError(f"kwargs of task {name!r} must be a dict, got {type(kwargs).__name__}")
        spec = t.job(*args, **kwargs) if t else JobSpec(task=str(name), args=list(args), kwargs=kwargs)
        if d.get("unique_key") is not None:
            spec.unique_key = _check_text(d["unique_key"], "unique_key", _KEY_MAX)
            spec.unique_states = spec.unique_states or Unique().states_text
        for key in ("queue", "priority", "max_attempts", "timeout"):
            if d.get(key) is not None:
                setattr(spec, key, d[key])
        if d.get("scheduled_at") is not None:
            spec.scheduled_at = _seconds(d["scheduled_at"], "scheduled_at", allow_negative=True)
        elif d.get("delay") is not None:
            delay = _seconds(d["delay"], "delay")
            if delay:
                spec.scheduled_at = clock.now() + delay
        return spec

    def enqueue_many(
        self,
        jobs: Iterable[JobSpec | dict[str, Any]],
        *,
        connection: Connection | None = None,
        batch_size: int = 10_000,
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
        """Put failed (discarded or cancelled) jobs back in their queues for one more attempt and wake their
        workers. All or nothing: an unknown id (:class:`JobNotFoundError`) or a job in another state
        (:class:`InvalidStateError`) refuses the call."""
        self._wake(self.driver.retry_jobs(list(job_ids), clock.now()))

    def retry_failed(self, *, queue: str | None = None, task: str | None = None, error_class: str | None = None) -> int:
        """Put every failed (discarded) job back in its queue — only those of ``queue``, ``task`` and whose last
        error is of ``error_class`` (``"KeyError"``), when given — and wake their workers; returns how many.
        The one "retry all" of the CLI, the API and the dashboard."""
        now = clock.now()
        if error_class is None:
            queues = self.driver.retry_jobs(None, now, queue=queue, task=task)
        else:
            queues = []
            for ids in self._failed_ids(queue=queue, task=task, error_class=error_class):
                queues += self.driver.retry_jobs(ids, now, strict=False)
        self._wake(queues)
        return len(queues)

    def retry_all_failed(self) -> int:
        """Same as :meth:`retry_failed` without filters (kept for existing callers)."""
        return self.retry_failed()

    def _failed_ids(
        self, *, queue: str | None, task: str | None, error_class: str, page: int = 1000
    ) -> list[list[int]]:
        """Ids of discarded jobs matching the filters whose last error is of ``error_class``, in chunks."""
        from conveyor.store.queries.job_errors import error_class as class_of

        chunks: list[list[int]] = []
        before: int | None = None
        while True:
            jobs = self.driver.list_jobs(
                [JobState.DISCARDED.value], queue=queue, task=task, limit=page, before_id=before
            )
            ids = [j.id for j in jobs if class_of(j.last_error.error if j.last_error else None) == error_class]
            if ids:
                chunks.append(ids)
            if len(jobs) < page:
                return chunks
            before = jobs[-1].id

    def list_failed(
        self,
        *,
        queue: str | None = None,
        task: str | None = None,
        error_class: str | None = None,
        limit: int = 50,
        before_id: int | None = None,
    ) -> list[JobRecord]:
        """Failed (discarded) jobs, newest first, with every attempt's error; ``before_id`` pages on (pass the
        last id of the previous page). ``error_class`` keeps jobs whose last error is of that class
        (``"KeyError"`` for ``"KeyError: 'sku'"``)."""
        if limit < 1:
            raise InvalidJobError(f"limit must be >= 1, got {limit}")
        states = [JobState.DISCARDED.value]
        if error_class is None:
            return self.driver.list_jobs(states, queue=queue, task=task, limit=limit, before_id=before_id)
        from conveyor.store.queries.job_errors import error_class as class_of

        out: list[JobRecord] = []
        page = max(limit, 200)
        while len(out) < limit:
            jobs = self.driver.list_jobs(states, queue=queue, task=task, limit=page, before_id=before_id)
            out += [j for j in jobs if class_of(j.last_error.error if j.last_error else None) == error_class]
            if len(jobs) < page:
                break
            before_id = jobs[-1].id
        return out[:limit]

    def delete_jobs(self, job_ids: Sequence[int]) -> int:
        """Delete jobs that finished unsuccessfully — ``discarded`` (failed for good) or ``cancelled`` — with
        their errors; returns how many. All or nothing: an unknown id (:class:`JobNotFoundError`) or a job
        in any other state (:class:`InvalidStateError`) refuses the call and deletes nothing."""
        return self.driver.delete_failed_jobs(list(job_ids))

    def prune_failed(self, older_than_seconds: float) -> int:
        """Delete discarded and cancelled jobs that finished more than ``older_than_seconds`` ago (0: all)."""
        age = _seconds(older_than_seconds, "older_than_seconds")
        states = [JobState.DISCARDED.value, JobState.CANCELLED.value]
        return self.driver.delete_jobs(states, older_than=clock.now() - age)

    def prune_completed(self, older_than_seconds: float) -> int:
        """Delete completed jobs that finished more than ``older_than_seconds`` ago."""
        age = _seconds(older_than_seconds, "older_than_seconds")
        return self.driver.delete_jobs([JobState.COMPLETED.value], older_than=clock.now() - age)

    # ------------------------------------------------------------------ queues
    def _known_queue(self, name: str) -> str:
        """``name`` if a job, a declaration (``app.queue``, a task's queue) or a settings row knows it;
        :class:`UnknownQueueError` otherwise (so a typo never creates a ghost queue)."""
        if not isinstance(name, str) or "\x00" in name:
            check_queue_name(name)
        if name in self.queues or any(t.queue == name for t in self.tasks.values()):
            return name
        if self.driver.queue_exists(name):
            return name
        raise UnknownQueueError(name, self._declared_queues() + self.driver.queue_names())

    def _declared_queues(self) -> list[str]:
        return sorted(set(self.queues) | {t.queue for t in self.tasks.values()})

    def pause_queue(self, name: str) -> None:
        """Workers stop taking jobs from the queue (running ones finish). Refuses an unknown queue."""
        self.driver.set_paused(self._known_queue(name), True, clock.now())

    def resume_queue(self, name: str) -> None:
        """Workers take jobs from the queue again; idle ones are woken at once. Refuses an unknown queue."""
        self.driver.set_paused(self._known_queue(name), False, clock.now())
        self._wake([name])

    def clear_queue(self, name: str) -> int:
        """Delete every job of the queue that waits to run (running ones finish); returns how many.
        Refuses an unknown queue."""
        return self.driver.clear_queue(self._known_queue(name))

    def queue_stats(self) -> list[QueueStats]:
        """Per queue (with jobs, settings, or declared by this app): counts per state, paused, the age of
        the oldest waiting job, and jobs processed (finished ``completed`` or ``discarded``) in the last
        minute and hour, of them failed. The one definition behind ``queue stats``, the API and the
        dashboard."""
        stats = self.driver.queue_stats(clock.now(), self._declared_queues())
        for s in stats:  # a declared limit reaches the database when a worker starts; show it before that
            if s.global_limit is None:
                s.global_limit = self.queues.get(s.queue)
        return stats

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
        check_queue_name(name)
        if global_limit is not None and global_limit < 1:
            raise ValueError(f"queue {name!r}: global_limit must be >= 1")
        self.queues[name] = global_limit

    def _wake(self, queues: Iterable[str]) -> None:
        conn = self._connection()
        for q in set(queues):
            self.driver.notify(conn, q)

    def require_tasks(self) -> None:
        """Raise :class:`ConfigurationError` when no task is registered: a worker would fail every job it
        fetched as "unknown task" (usually the application was not loaded: ``--app``)."""
        if not self.tasks:
            raise ConfigurationError(
                "no tasks are registered, so a worker would fail every job as 'unknown task': "
                "pass your application with --app package.module:app (or CONVEYOR_APP)"
            )

    def work(self, queues: Sequence[str] = ("default",), **options: Any) -> int:
        """Run a worker in this process (see ``conveyor work``); returns its exit code. Refuses to start
        without registered tasks or with a queue name no job can have."""
        from conveyor.worker import WorkerOptions, run_worker

        self.require_tasks()
        for q in queues:
            check_queue_name(q)
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
