"""The executor: the loop inside one worker process that fetches jobs, runs them and records outcomes.

Threads:
* the main thread fetches batches, stages due jobs and flushes outcomes (one DB connection, ours alone);
* ``concurrency`` runner threads execute jobs (``async def`` tasks go to one event-loop thread);
* a heartbeat thread renews the leases of the jobs this process holds (its own connection);
* a watcher thread sets ``wake`` when new work may exist (LISTEN/NOTIFY or ``PRAGMA data_version``).

Attempts are charged only to jobs whose body started. A fetched job counts an attempt in the database at
once (``attempt + 1``), but a job that only waited in this process's buffer is given back uncharged
whatever ends the process: on shutdown it is released; if the process dies, its supervisor reads the
``slots`` (shared memory: which job each runner thread is inside, written with no database round trip) and
charges only those; if the whole machine is lost, rescue charges only jobs marked ``started_at``. That mark
is written in batches by the main loop, and only for jobs still running ``MARK_DELAY`` after they began,
so short jobs never cost a write for it (a job lost with its machine within that window is released
uncharged, as if it had not started).

Throughput comes from batching: jobs are fetched and acknowledged many at a time. To keep a slow job
from holding a batch of others hostage, the fetch size adapts to how long jobs take: fast jobs are
prefetched in large batches, slow ones only up to ``concurrency``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import threading
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from conveyor.engine import clock
from conveyor.engine.job import FetchedJob
from conveyor.engine.retry import next_attempt_at
from conveyor.errors import Discard, Snooze, UnknownTaskError
from conveyor.store.base import Failure
from conveyor.worker.context import JobContext, _current
from conveyor.worker.options import WorkerOptions

if TYPE_CHECKING:
    from multiprocessing.sharedctypes import Synchronized

    from conveyor.app import Conveyor
    from conveyor.engine.task import Task

log = logging.getLogger("conveyor.worker")

MAX_BATCH = 500  # most jobs fetched at once
PREFETCH_SECONDS = 0.02  # prefetch about this much work beyond the running jobs
FLUSH_INTERVAL = 0.01  # outcomes wait at most this long before they are written
FLUSH_SIZE = 200  # ... or until this many are pending
STAGE_INTERVAL = 0.25  # how often due scheduled/retryable jobs are promoted
PAUSE_REFRESH = 1.0  # how often queue settings (paused, global limits) and cancel requests are re-read
PROGRESS_INTERVAL = 0.25  # how often reported progress is written
MARK_DELAY = 0.05  # a job still running this long after it began gets its started_at written


class Executor:
    """Runs jobs for one worker process until told to stop (or a stop condition is met)."""

    def __init__(
        self,
        app: Conveyor,
        opts: WorkerOptions,
        worker_id: str,
        processed: Synchronized[int] | None = None,  # jobs claimed by all children of a supervisor
        slots: Any = None,  # 2 x concurrency doubles shared with the supervisor: (job id, started at) per runner
    ) -> None:
        self.app = app
        self.opts = opts
        self.worker_id = worker_id
        self.driver = app.driver
        self.lease = opts.lease or app.settings.lease_seconds
        self.grace = app.settings.shutdown_grace_seconds if opts.grace is None else opts.grace
        self.processed = processed
        self.local_processed = 0
        self.claimed = 0
        self.stop = threading.Event()
        self.wake = threading.Event()
        self.notified = threading.Event()
        self._jobs: queue.SimpleQueue[FetchedJob | None] = queue.SimpleQueue()
        self._held: set[int] = set()  # fetched and not finished here (buffered or running)
        self._done: list[tuple[int, str | None]] = []
        self._failed: list[Failure] = []
        self._first_pending = 0.0
        # Runner threads wake the main thread only when it has something to do: the buffer fell to
        # ``_refill_at`` held jobs (time to fetch; once per fetch), the first outcome is pending (start the
        # flush clock) or FLUSH_SIZE are. Waking it after every job cost a thread hand-off and a loop pass
        # per job, and when the queue is drained it had nothing to do anyway.
        self._refill_at = opts.concurrency
        self._refill_asked = False
        self._avg_duration = 0.001
        self._threads: list[threading.Thread] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_lock = threading.Lock()
        self._conn: Any = None
        self._paused: set[str] = set()
        self._limits: dict[str, int] = {}
        self._running: dict[int, JobContext] = {}  # job id -> context of jobs inside a task right now
        self._snoozed: list[tuple[int, float]] = []
        self._last_progress: list[tuple[int, str]] = []  # final values of jobs that just ended
        self._slots = slots if slots is not None else [0.0] * (2 * opts.concurrency)
        self._renewed_until = 0.0  # the lease the last heartbeat gave every job it found still ours
        self._lost: set[int] = set()  # held jobs the heartbeat found rescued by someone else: never start them

    # ------------------------------------------------------------------ public
    def request_stop(self, *_: Any) -> None:
        self.stop.set()
        self.wake.set()

    def run(self) -> int:
        """Run until stopped; returns the number of jobs this executor finished."""
        self._conn = self._connect()
        self._start_threads()
        try:
            self._main_loop()
        finally:
            self._shutdown()
        return self.local_processed

    # ------------------------------------------------------------------ main loop
    def _main_loop(self) -> None:
        opts = self.opts
        last_stage = last_pause = last_progress = 0.0
        drained = False  # the last fetch found less than asked: wait for news before asking again
        idle_since = time.monotonic()
        while not self.stop.is_set():
            now = clock.now()
            mono = time.monotonic()
            if self.notified.is_set():
                self.notified.clear()
                drained = False
            if mono - last_stage >= STAGE_INTERVAL:
                last_stage = mono
                if self._db(self.driver.stage_due, now):
                    drained = False
            if mono - last_pause >= PAUSE_REFRESH:
                last_pause = mono
                self._refresh_settings()
                drained = False
            if self._running and mono - last_progress >= PROGRESS_INTERVAL:
                last_progress = mono
                self._write_progress()
            if self._running:
                self._mark_started(now)
            self._flush(force=False)
            if self._limit_reached():
                if not self._held:
                    break
            else:
                if not drained or mono - idle_since >= opts.sleep:
                    fetched, asked = self._fill(now)
                    if asked:
                        drained = fetched < asked
                        if drained:
                            idle_since = mono
                if drained and not self._held and not self._pending():
                    if opts.once and self.local_processed:
                        break
                    if opts.stop_when_empty and self._nothing_left():
                        break
            self.wake.wait(self._wait_time())
            self.wake.clear()

    def _wait_time(self) -> float:
        if self._pending():
            return FLUSH_INTERVAL
        if self._held:
            return 0.05
        return min(self.opts.sleep, 0.05) if self.opts.stop_when_empty else self.opts.sleep

    def _limit_reached(self) -> bool:
        """--once / --max-jobs: counted when jobs are claimed, so buffered jobs count too."""
        if self.opts.once:
            return self.claimed >= 1
        if self.opts.max_jobs and self.processed is not None:
            return self.processed.value >= self.opts.max_jobs
        return False

    def _nothing_left(self) -> bool:
        return bool(self._db_admin(self.driver.pending_count, self.opts.queues, clock.now(), default=1) == 0)

    def _target(self) -> int:
        c = self.opts.concurrency
        if self.opts.once:
            return 1
        extra = int(c * PREFETCH_SECONDS / max(self._avg_duration, 1e-6))
        return max(c, min(MAX_BATCH, c + extra))

    def _fill(self, now: float) -> tuple[int, int]:
        """Fetch up to the target buffer; queues in the order given (first listed, first served)."""
        target = self._target()
        self._refill_at = target - max(1, target // 2)
        free = target - len(self._held)
        if free < max(1, target // 2) and self._held:
            return 0, 0
        self._refill_asked = False
        if self.opts.max_jobs and self.processed is not None:
            free = min(free, self.opts.max_jobs - self.processed.value)
        asked = free
        total = 0
        for q in self.opts.queues:
            if free <= 0:
                break
            if q in self._paused:
                continue
            jobs = self._db(self.driver.fetch_available, q, free, self.worker_id, now, self.lease, self._limits.get(q))
            if not jobs:
                continue
            lease_until = now + self.lease
            for job in jobs:
                job.lease_until = lease_until
                self._held.add(job.id)
                self._jobs.put(job)
            total += len(jobs)
            free -= len(jobs)
            self.claimed += len(jobs)
            if self.processed is not None:
                with self.processed.get_lock():
                    self.processed.value += len(jobs)
        return total, asked

    def _refresh_settings(self) -> None:
        settings = self._db_admin(self.driver.queue_settings, default=None)
        if settings is not None:
            self._paused = {q for q, (paused, _) in settings.items() if paused}
            self._limits = {q: limit for q, (_, limit) in settings.items() if limit is not None}
        if self._running:
            for job_id in self._db(self.driver.cancel_requested_of, self.worker_id):
                ctx = self._running.get(job_id)
                if ctx is not None:
                    ctx._cancelled = True

    def _mark_started(self, now: float) -> None:
        """Write ``started_at`` of jobs running for ``MARK_DELAY`` or more, once each, in one statement."""
        due = now - MARK_DELAY
        items = []
        for job_id, ctx in list(self._running.items()):
            if not ctx._marked and ctx.started_at <= due:
                ctx._marked = True
                items.append((job_id, ctx.started_at))
        if items:
            self._db(self.driver.mark_started, items, self.worker_id)

    def _write_progress(self) -> None:
        items, self._last_progress = self._last_progress, []
        items += [(job_id, p) for job_id, ctx in list(self._running.items()) if (p := ctx.take_progress())]
        if items:
            self._db(self.driver.write_progress, items)

    def _pending(self) -> bool:
        return bool(self._done or self._failed or self._snoozed)

    def _flush(self, force: bool) -> None:
        if not self._pending():
            return
        n = len(self._done) + len(self._failed) + len(self._snoozed)
        if not force and n < FLUSH_SIZE and time.monotonic() - self._first_pending < FLUSH_INTERVAL:
            return
        # Swap the lists first: runner threads append to the new ones while we write the old.
        done, self._done = self._done, []
        failed, self._failed = self._failed, []
        snoozed, self._snoozed = self._snoozed, []
        finished = len(done) + len(failed)
        if self._last_progress:  # a job's final progress goes in before its state leaves executing
            self._write_progress()
        now = clock.now()
        try:
            if done:
                self._db(self.driver.complete_jobs, done, self.worker_id, now, retry=True)
                done = []
            if failed:
                self._db(self.driver.fail_jobs, failed, self.worker_id, now, retry=True)
                failed = []
            if snoozed:
                self._db(self.driver.snooze_jobs, snoozed, self.worker_id, retry=True)
        except BaseException:
            # keep what was not written for the next try
            self._done[:0], self._failed[:0], self._snoozed[:0] = done, failed, snoozed
            raise
        self.local_processed += finished

    # ------------------------------------------------------------------ database access
    def _connect(self) -> Any:
        delay = 0.5
        while True:
            try:
                return self.driver.connect()
            except Exception as exc:
                if self.stop.is_set():
                    raise
                log.warning("database unreachable (%s): retrying in %.0fs", _first_line(exc), delay)
                time.sleep(delay)
                delay = min(delay * 2, 30)

    def _db(self, fn: Callable[..., Any], *args: Any, retry: bool = True) -> Any:
        """Run a driver call on our connection; on a lost connection, reconnect and try again."""
        while True:
            try:
                return fn(self._conn, *args)
            except Exception as exc:
                if not self.driver.is_disconnect(exc) or (self.stop.is_set() and not retry):
                    raise
                log.warning("database connection lost (%s): reconnecting", _first_line(exc))
                with contextlib.suppress(Exception):
                    self._conn.close()
                self._conn = self._connect()

    def _db_admin(self, fn: Callable[..., Any], *args: Any, default: Any) -> Any:
        try:
            return fn(*args)
        except Exception as exc:
            if not self.driver.is_disconnect(exc) and "OperationalError" not in type(exc).__name__:
                raise
            log.warning("database unavailable (%s)", _first_line(exc))
            return default

    # ------------------------------------------------------------------ threads
    def _start_threads(self) -> None:
        for i in range(self.opts.concurrency):
            t = threading.Thread(target=self._runner, args=(i,), name=f"conveyor-runner-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        self._watch_stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="conveyor-watch", daemon=True)
        self._watcher.start()
        self._heartbeat = threading.Thread(target=self._heartbeats, name="conveyor-heartbeat", daemon=True)
        self._heartbeat.start()

    def _watch(self) -> None:
        relay = _Relay(self.notified, self.wake)
        while not self._watch_stop.is_set():
            try:
                self.driver.watch(relay, self._watch_stop)  # type: ignore[arg-type]
            except Exception as exc:
                if self._watch_stop.is_set():
                    return
                log.warning("notification listener failed (%s): falling back to polling", _first_line(exc))
                self._watch_stop.wait(self.opts.sleep)

    def _heartbeats(self) -> None:
        conn = None
        interval = self.lease / 3
        while not self._watch_stop.wait(interval):
            try:
                if conn is None:
                    conn = self.driver.connect()
                until = clock.now() + self.lease
                before = set(self._held)
                ours = set(self.driver.extend_leases(conn, self.worker_id, until))
                self._renewed_until = until
                # Held before and after the renewal but not renewed: rescued while we were frozen (a
                # finished job leaves _held before its outcome is written, so it is never counted here).
                lost = (before & self._held) - ours
                self._lost |= lost
                for job_id, ctx in list(self._running.items()):
                    if job_id in ours:
                        ctx._lease_until = until
                    elif job_id in lost:
                        ctx._lease_lost = True
                if lost:
                    log.error("lease lost on %d job(s) (rescued elsewhere after this worker stalled)", len(lost))
            except Exception as exc:
                log.warning("could not renew leases (%s)", _first_line(exc))
                conn = None
        if conn is not None:
            conn.close()

    def _runner(self, slot: int) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            self._execute(job, 2 * slot)

    def _async_loop(self) -> asyncio.AbstractEventLoop:
        with self._loop_lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="conveyor-asyncio", daemon=True).start()
                self._loop = loop
            return self._loop

    def _execute(self, job: FetchedJob, slot: int) -> None:
        started = time.perf_counter()
        task = self.app.tasks.get(job.task)
        if job.id in self._lost:  # rescued while it waited here: it is someone else's now, never run it twice
            self._lost.discard(job.id)
            self._held.discard(job.id)
            return
        if task is None:
            err = UnknownTaskError(job.task, list(self.app.tasks))
            first = self._record_failure(job, None, str(err), None, discard=True)
        else:
            ctx = JobContext(job.id, job.task, job.queue, job.attempt, job.max_attempts)
            ctx.started_at = clock.now()
            ctx._lease_until = max(job.lease_until, self._renewed_until)
            slots = self._slots
            slots[slot + 1] = ctx.started_at  # before the id: the supervisor reads a pair whose id is set
            slots[slot] = float(job.id)
            token = _current.set(ctx)
            self._running[job.id] = ctx
            try:
                args = () if job.args == "[]" else json.loads(job.args)
                kwargs = {} if job.kwargs == "{}" else json.loads(job.kwargs)
                if task.is_async:
                    fut = asyncio.run_coroutine_threadsafe(task.fn(*args, **kwargs), self._async_loop())
                    result = fut.result()
                else:
                    result = task.fn(*args, **kwargs)
            except Snooze as snooze:
                first = self._mark_pending()
                self._snoozed.append((job.id, clock.now() + snooze.seconds))
            except Discard as exc:
                name = type(exc.__cause__).__name__ if exc.__cause__ is not None else "Discard"
                first = self._record_failure(job, task, f"{name}: {exc}", traceback.format_exc(), discard=True)
            except BaseException as exc:  # a task's SystemExit must not kill the runner thread
                first = self._record_failure(job, task, f"{type(exc).__name__}: {exc}", traceback.format_exc())
            else:
                first = self._record_success(job, task, result)
            finally:
                slots[slot] = 0.0
                _current.reset(token)
                del self._running[job.id]
                if (final := ctx.take_progress()) is not None:
                    self._last_progress.append((job.id, final))
        # Exponential moving average of run time drives the prefetch size.
        self._avg_duration += (time.perf_counter() - started - self._avg_duration) * 0.05
        held = self._held
        held.discard(job.id)
        refill = len(held) <= self._refill_at and not self._refill_asked
        if refill:
            self._refill_asked = True
        if first or refill or len(self._done) == FLUSH_SIZE:
            self.wake.set()

    def _mark_pending(self) -> bool:
        """Start the flush clock if nothing was pending; True then (the main thread should know)."""
        if not self._done and not self._failed and not self._snoozed:
            self._first_pending = time.monotonic()
            return True
        return False

    def _record_success(self, job: FetchedJob, task: Task[Any, Any], result: Any) -> bool:
        stored = None
        if task.store_result:
            try:
                stored = json.dumps(result)
            except (TypeError, ValueError) as exc:
                log.warning(
                    "job %s: result of task %r is not JSON-serialisable (%s); not stored",
                    job.id,
                    task.name,
                    exc,
                )
        first = self._mark_pending()
        self._done.append((job.id, stored))
        return first

    def _record_failure(
        self, job: FetchedJob, task: Task[Any, Any] | None, error: str, tb: str | None, discard: bool = False
    ) -> bool:
        retry_at = None
        if task is not None and not discard:
            retry_at = next_attempt_at(job.attempt, job.max_attempts, clock.now(), task.retry)
        if retry_at is None:
            log.error("job %s (%s) failed for good on attempt %s: %s", job.id, job.task, job.attempt, error)
        else:
            log.warning("job %s (%s) failed on attempt %s, retrying: %s", job.id, job.task, job.attempt, error)
        first = self._mark_pending()
        self._failed.append(Failure(job.id, job.attempt, error, tb, retry_at))
        return first

    # ------------------------------------------------------------------ shutdown
    def _shutdown(self) -> None:
        """Stop fetching, give back what has not started, let running jobs finish within the grace
        period, give back the rest, and write every outcome."""
        not_started: list[int] = []
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                not_started.append(job.id)
                self._held.discard(job.id)
        for _ in self._threads:
            self._jobs.put(None)
        if not_started:
            self._db(self.driver.release_jobs, not_started, self.worker_id)
        deadline = time.monotonic() + self.grace
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        self._flush(force=True)
        if self._held:
            still = list(self._held)
            log.warning("grace period over: releasing %d running job(s) back to their queues", len(still))
            self._db(self.driver.release_jobs, still, self.worker_id)
        self._watch_stop.set()
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        with contextlib.suppress(Exception):
            self._conn.close()


class _Relay:
    """Looks like an Event to a driver's ``watch``: a notification sets both flags."""

    def __init__(self, notified: threading.Event, wake: threading.Event) -> None:
        self._notified, self._wake = notified, wake

    def set(self) -> None:
        self._notified.set()
        self._wake.set()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"
