"""The supervisor: a parent process over ``--processes`` long-lived children (prefork).

Children run :class:`~conveyor.worker.executor.Executor`. The supervisor never runs jobs; it keeps the
guarantees a child cannot keep for itself:

* hard timeouts: a job past its timeout (counted from when its body began) gets its child killed (a stuck
  thread cannot be stopped any other way); the job records a timeout error and its siblings go back to
  ``available`` with the attempt refunded; a fresh child takes the dead one's place;
* crashes: a child that dies unexpectedly has its jobs rescued at once, not after the lease. Each child
  shares a small array with us (``slots``: the job each runner thread is inside, and since when), so we
  know which jobs were running when it died: those are charged an attempt and a crash ("worker lost"),
  and after ``crash_quarantine_after`` crashes a job is discarded instead of taking down another child;
  the jobs it had only buffered go back uncharged;
* rescue of jobs whose lease expired anywhere (another machine's worker died);
* ``--max-time``, ``--max-jobs`` and ``--memory-limit``: stop cleanly so a process manager restarts us;
* SIGTERM/SIGINT: children stop fetching and finish within the grace period; a second signal kills them.

It stays single-threaded so that forking is safe.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import secrets
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from conveyor.engine import clock
from conveyor.engine.retry import next_attempt_at
from conveyor.errors import SchemaOutdatedError
from conveyor.store.base import Failure
from conveyor.worker.executor import Executor, _first_line
from conveyor.worker.options import WorkerOptions

if TYPE_CHECKING:
    from conveyor.app import Conveyor

log = logging.getLogger("conveyor.worker")

TICK = 0.2
TIMEOUT_CHECK_INTERVAL = 0.5
WORKER_HEARTBEAT_INTERVAL = 5.0
PRUNE_INTERVAL = 60.0
PRUNE_BATCHES = 10  # at most this many batches of 10,000 per round, so one round stays short


@dataclass
class _Child:
    pid: int
    worker_id: str
    slots: Any  # shared doubles, (job id, started at) per runner thread; see Executor
    started: float = field(default_factory=time.monotonic)

    def running(self) -> dict[int, float]:
        """Job id -> when its body began, for the jobs the child's runner threads are inside right now."""
        s, out = self.slots, {}
        for i in range(0, len(s), 2):
            job_id = int(s[i])
            at = s[i + 1]
            if job_id and int(s[i]) == job_id:  # the pair did not change while we read it
                out[job_id] = at
        return out


def _death(code: int) -> str:
    return f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def wait_for_database(app: Conveyor, should_stop: Any) -> bool:
    """Block until the database answers and the schema is current. False if asked to stop first.

    One line per failed attempt, with back-off: a worker started before its database comes up is
    normal in container deployments and should not spray tracebacks.
    """
    delay = 1.0
    while not should_stop():
        try:
            app.check_schema()
            for name, limit in app.queues.items():  # declared in code, shared with every worker
                app.driver.configure_queue(name, limit, clock.now())
            return True
        except SchemaOutdatedError:
            raise
        except Exception as exc:
            log.warning("database unreachable (%s): retrying in %.0fs", _first_line(exc), delay)
            deadline = time.monotonic() + delay
            while time.monotonic() < deadline and not should_stop():
                time.sleep(min(TICK, delay))
            delay = min(delay * 2, 30.0)
    return False


class Supervisor:
    def __init__(self, app: Conveyor, opts: WorkerOptions) -> None:
        self.app = app
        self.opts = opts
        self.id = new_worker_id()
        self.lease = opts.lease or app.settings.lease_seconds
        self.grace = app.settings.shutdown_grace_seconds if opts.grace is None else opts.grace
        self.children: dict[int, _Child] = {}
        self.processed = multiprocessing.Value("q", 0)
        self.signals = 0
        self.stop_reason: str | None = None
        self._seq = 0

    # ------------------------------------------------------------------ lifecycle
    def _on_signal(self, signum: int, _frame: Any) -> None:
        self.signals += 1
        self.stop_reason = self.stop_reason or signal.Signals(signum).name

    def run(self) -> int:
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            if not wait_for_database(self.app, lambda: self.stop_reason is not None):
                return 0
            driver = self.app.driver
            self.conn = driver.connect()
            driver.unregister_worker(self.id, clock.now() - 10 * WORKER_HEARTBEAT_INTERVAL)
            driver.register_worker(
                {
                    "id": self.id,
                    "hostname": socket.gethostname(),
                    "pid": os.getpid(),
                    "queues": json.dumps(self.opts.queues),
                    "processes": self.opts.processes,
                    "concurrency": self.opts.concurrency,
                    "started_at": clock.now(),
                    "heartbeat_at": clock.now(),
                }
            )
            log.info(
                "worker %s: queues %s, %d process(es) x %d, lease %.0fs",
                self.id,
                ",".join(self.opts.queues),
                self.opts.processes,
                self.opts.concurrency,
                self.lease,
            )
            for _ in range(self.opts.processes):
                self._spawn()
            self._loop()
            self._stop_children()
            driver.unregister_worker(self.id, clock.now() - 10 * WORKER_HEARTBEAT_INTERVAL)
            if self.stop_reason:
                log.info("worker %s stopped (%s)", self.id, self.stop_reason)
            return 0
        finally:
            for s, h in previous.items():
                signal.signal(s, h)

    def _loop(self) -> None:
        started = time.monotonic()
        next_timeout = next_rescue = next_beat = 0.0
        next_prune = time.monotonic() + PRUNE_INTERVAL / 6
        rescue_every = min(max(self.lease / 4, 0.5), 15.0)
        while True:
            self._reap()
            if self.stop_reason or not self.children:
                return
            mono = time.monotonic()
            if mono >= next_timeout:
                next_timeout = mono + TIMEOUT_CHECK_INTERVAL
                self._guarded(self._enforce_timeouts)
            if mono >= next_rescue:
                next_rescue = mono + rescue_every
                self._guarded(self._rescue)
            if mono >= next_beat:
                next_beat = mono + WORKER_HEARTBEAT_INTERVAL
                self._guarded(lambda: self.app.driver.heartbeat_worker(self.id, clock.now()))
            if mono >= next_prune:
                next_prune = mono + PRUNE_INTERVAL
                self._guarded(self._prune)
            if self.opts.max_time and mono - started >= self.opts.max_time:
                self.stop_reason = f"--max-time {self.opts.max_time:g}s reached"
            elif self.opts.memory_limit:
                for child in self.children.values():
                    rss = _rss_mib(child.pid)
                    if rss > self.opts.memory_limit:
                        self.stop_reason = (
                            f"--memory-limit {self.opts.memory_limit} MiB exceeded by {child.worker_id} ({rss:.0f} MiB)"
                        )
            time.sleep(TICK)

    def _guarded(self, fn: Any) -> None:
        try:
            fn()
        except Exception as exc:
            if not self.app.driver.is_disconnect(exc) and "OperationalError" not in type(exc).__name__:
                raise
            log.warning("database unavailable (%s)", _first_line(exc))
            with contextlib.suppress(Exception):
                self.conn.close()
            with contextlib.suppress(Exception):
                self.conn = self.app.driver.connect()

    # ------------------------------------------------------------------ children
    def _spawn(self) -> None:
        self._seq += 1
        worker_id = f"{self.id}/{self._seq}"
        slots = multiprocessing.Array("d", 2 * self.opts.concurrency, lock=False)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child; covered by the multi-process tests
            os._exit(_child_main(self.app, self.opts, worker_id, self.processed, slots))
        self.children[pid] = _Child(pid, worker_id, slots)

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if pid == 0:
                return
            child = self.children.pop(pid, None)
            if child is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            if code == 0:
                continue  # finished by itself: --stop-when-empty, --once, --max-jobs
            log.error("worker process %s exited unexpectedly (code %s): rescuing its jobs", child.worker_id, code)
            self._guarded(lambda c=child, code=code: self._rescue_child(c, code))
            if not self.stop_reason:
                self._spawn()

    def _prune(self) -> None:
        """Completed jobs older than ``completed_retention_hours`` are deleted (failed ones are kept
        until ``conveyor failed prune``). Every worker does it; deletes of the same rows are harmless."""
        cutoff = clock.now() - self.app.settings.completed_retention_hours * 3600
        total = 0
        for _ in range(PRUNE_BATCHES):
            n = self.app.driver.prune_completed(cutoff)
            total += n
            if n < 10_000:
                break
        if total:
            log.info("pruned %d completed job(s) older than %gh", total, self.app.settings.completed_retention_hours)

    def _rescue_child(self, child: _Child, code: int) -> None:
        running = child.running()
        cause = f"worker lost: process {child.worker_id} died ({_death(code)}) while running this job"
        limit = self.app.settings.crash_quarantine_after
        rescued = self.app.driver.rescue_worker(self.conn, child.worker_id, running, clock.now(), cause, limit)
        if rescued:
            log.warning(
                "%d job(s) of %s back in their queues; %d were running: %s",
                len(rescued),
                child.worker_id,
                len(running),
                sorted(running)[:20],
            )

    def _rescue(self) -> None:
        limit = self.app.settings.crash_quarantine_after
        rescued = self.app.driver.rescue_expired(self.conn, clock.now(), limit)
        if rescued:
            log.warning("rescued %d job(s) from lost workers: %s", len(rescued), rescued[:20])

    def _enforce_timeouts(self) -> None:
        prefix = self.id + "/"
        now = clock.now()
        by_child: dict[str, list[dict[str, Any]]] = {}
        for job in self.app.driver.executing_jobs_of(prefix):
            by_child.setdefault(job["worker_id"], []).append(job)
        for child in list(self.children.values()):
            jobs = by_child.get(child.worker_id, [])
            running = child.running()  # a job waiting in the child's buffer has not started its clock
            late = [j for j in jobs if j["id"] in running and now > running[j["id"]] + self._timeout_of(j)]
            if late:
                self._kill_for_timeout(child, late)

    def _timeout_of(self, job: dict[str, Any]) -> float:
        """The job's own timeout, else its task's (a job enqueued by name may not carry it), else --timeout."""
        if job["timeout"] is not None:
            return float(job["timeout"])
        task = self.app.tasks.get(job["task"])
        return task.timeout if task is not None and task.timeout else self.opts.timeout

    def _kill_for_timeout(self, child: _Child, late: list[dict[str, Any]]) -> None:
        os.kill(child.pid, signal.SIGKILL)
        os.waitpid(child.pid, 0)
        self.children.pop(child.pid, None)
        driver, now = self.app.driver, clock.now()
        failures = []
        for j in late:
            error = f"TimeoutError: job exceeded its {self._timeout_of(j):g}s timeout; its worker process was killed"
            log.error("job %s (%s): %s", j["id"], j["task"], error)
            task = self.app.tasks.get(j["task"])
            retry_at = next_attempt_at(j["attempt"], j["max_attempts"], now, task.retry if task else None)
            failures.append(Failure(j["id"], j["attempt"], error, None, retry_at))
        driver.fail_jobs(self.conn, failures, child.worker_id, now)
        # Its other jobs, running or buffered, die with it through no fault of theirs: back uncharged.
        cause = f"worker lost: process {child.worker_id} killed for a sibling's timeout"
        driver.rescue_worker(self.conn, child.worker_id, (), now, cause, self.app.settings.crash_quarantine_after)
        if not self.stop_reason:
            self._spawn()

    def _stop_children(self) -> None:
        for child in self.children.values():
            _signal(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace + 5.0
        forced = False
        while self.children and time.monotonic() < deadline:
            if self.signals >= 2 and not forced:
                log.warning("second signal: killing worker processes now")
                break
            self._reap_quietly()
            time.sleep(0.05)
        for child in list(self.children.values()):
            _signal(child.pid, signal.SIGKILL)
            os.waitpid(child.pid, 0)
            self.children.pop(child.pid, None)
            # Killed mid-job by us: the jobs go back without losing an attempt.
            held = [j["id"] for j in self.app.driver.executing_jobs_of(child.worker_id)]
            self.app.driver.release_jobs(self.conn, held, child.worker_id)

    def _reap_quietly(self) -> None:
        for pid in list(self.children):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                self.children.pop(pid, None)


def _child_main(  # pragma: no cover
    app: Conveyor, opts: WorkerOptions, worker_id: str, processed: Any, slots: Any
) -> int:
    code = 0
    try:
        executor = Executor(app, opts, worker_id, processed, slots)
        signal.signal(signal.SIGTERM, executor.request_stop)
        signal.signal(signal.SIGINT, executor.request_stop)
        executor.run()
    except BaseException:
        log.exception("worker process %s crashed", worker_id)
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return code


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _rss_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/statm") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 1_048_576
