"""The web process's view of the queue: a snapshot refreshed about once a second, a change feed turned into
server-sent events, and the numbers behind ``/metrics`` and the throughput charts.

Why a background monitor instead of querying per request: counting every finished job of a table with
millions of rows takes ~100 ms on PostgreSQL, and a dashboard with a few open tabs would do it many times a
second. Oban Web and Sidekiq's web UI do the same thing in their own ways (periodic gauges; counters kept by
the workers). Here one thread per web process:

* counts the waiting/executing states every tick through their partial indexes (milliseconds);
* recounts the finished states every tick while that is cheap (under 20 ms) and every ``slow_interval``
  seconds once the table is big enough to make it expensive (the "completed" total may then lag by that
  much; the processed-per-minute/hour figures never do);
* reads jobs that finished since the last tick as one aggregate per (queue, task, state) — counts, duration
  histogram buckets, queueing latency — behind a short lag, so a transaction that committed a little late
  is still counted exactly once;
* reads the newest finished/inserted jobs, executing jobs' progress, fired schedules and finished batches
  and publishes them as events to every SSE subscriber.

Requests never wait on it: they read the last snapshot. When no thread runs (tests driving the ASGI app
directly) a stale snapshot is recomputed on demand, and mutations through the API invalidate it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from conveyor.engine import clock
from conveyor.engine.states import JobState
from conveyor.store.base import QueueStats
from conveyor.store.queries.jobs import FINISHED_STATES

if TYPE_CHECKING:
    from conveyor.app import Conveyor

log = logging.getLogger("conveyor.web")
S = JobState

#: Job duration histogram buckets (seconds), from quick no-ops to hour-long imports.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
#: How far behind "now" the aggregate window closes: long enough for a worker's acknowledgement
#: transaction to commit after it stamped ``finished_at``.
FEED_LAG = 2.0
WAITING_STATES = (S.AVAILABLE.value, S.SCHEDULED.value, S.RETRYABLE.value)
#: Precision of the per-queue "processed in the last minute/hour" figures, in seconds.
SLOT = 10.0


@dataclass
class TaskStats:
    """Cumulative numbers for one (queue, task) since this web process started."""

    completed: int = 0
    failed: int = 0  # discarded: failed for good
    cancelled: int = 0
    duration_sum: float = 0.0
    duration_buckets: list[int] = field(default_factory=lambda: [0] * len(DURATION_BUCKETS))
    duration_count: int = 0


@dataclass
class Snapshot:
    at: float
    counts: dict[str, dict[str, int]]
    paused: set[str]
    limits: dict[str, int | None]
    head_at: dict[str, float]
    executing: list[dict[str, Any]]
    workers: list[dict[str, Any]]
    minute: dict[str, tuple[int, int]]  # queue -> (finished in the last minute: completed, failed)
    hour: dict[str, tuple[int, int]]


#: Queue stats are reused for ``STATS_REUSE_FACTOR`` times what counting them cost: the count scans every
#: retained job, and recounting it every few seconds on a big table slowed the requests served meanwhile.
STATS_REUSE_FACTOR = 100


class Monitor:
    """See the module docstring. One per web process; thread-safe."""

    def __init__(
        self, app: Conveyor, *, interval: float = 1.0, slow_interval: float = 30.0, lag: float = FEED_LAG
    ) -> None:
        self.app = app
        self.interval = interval
        self.lag = lag
        self.slow_interval = slow_interval
        self._lock = threading.RLock()
        self._snapshot: Snapshot | None = None
        self._finished_totals: dict[str, dict[str, int]] = {}
        self._totals_at = 0.0
        self._totals_cost = 0.0  # seconds the last recount took: cheap recounts run every tick
        self._window_start: float | None = None  # aggregate feed position (finished_at)
        self._event_after: float | None = None  # event feed position (finished_at)
        self._event_seen: deque[int] = deque(maxlen=5000)
        self._event_seen_set: set[int] = set()
        self._last_job_id: int | None = None
        self._last_run_id: int | None = None
        self._batches_after: float | None = None
        self._progress: dict[int, Any] = {}
        #: job id -> (attempted_at, done, at): the first progress report seen of the job's current attempt,
        #: so the rate (and ETA) counts from there rather than from the start of the attempt
        self._origins: dict[int, tuple[float | None, float, float]] = {}
        self._stats_lock = threading.Lock()
        self._stats: list[QueueStats] | None = None
        self._stats_at = 0.0
        self._stats_cost = 0.0
        self._stats_wanted = threading.Event()  # a request saw stale stats: the monitor thread recounts
        self.tasks: dict[tuple[str, str], TaskStats] = {}
        #: minute start -> [completed, failed] over every queue, for the last 24 h (the charts).
        self.minutes: dict[float, list[int]] = {}
        #: queue -> 10-second slot start -> [completed, failed], for the last hour (per-queue throughput).
        self.slots: dict[str, dict[float, list[int]]] = {}
        self._backfilled = False
        self._subscribers: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[tuple[str, dict[str, Any]]]]] = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Run ticks in a daemon thread until :meth:`stop`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="conveyor-web-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.tick()
                if self._stats_wanted.is_set():
                    self._stats_wanted.clear()
                    started_count = time.monotonic()
                    stats = self.app.queue_stats()  # counted outside the lock: requests keep the old value
                    with self._stats_lock:
                        self._keep_stats(stats, started_count)
                failures = 0
            except Exception as exc:  # keep serving the last snapshot; say why once per outage
                failures += 1
                if failures == 1:
                    log.warning("dashboard monitor could not read the database: %s", exc)
            self._stop.wait(max(0.05, self.interval - (time.monotonic() - started)))

    # ------------------------------------------------------------------ reading
    def snapshot(self, max_age: float | None = None) -> Snapshot:
        """The newest snapshot; recomputed now when older than ``max_age`` (default: three intervals)."""
        limit = self.interval * 3 if max_age is None else max_age
        with self._lock:
            snap = self._snapshot
            if snap is None or clock.now() - snap.at > limit:
                self.tick()
                snap = self._snapshot
            assert snap is not None
            return snap

    def queue_stats(self) -> list[QueueStats]:
        """:meth:`Conveyor.queue_stats` (the one definition of a queue's counts and "processed", shared with
        ``conveyor queue stats``), reused for ``max(interval, 100 x its cost)`` seconds: ~0.3 s over 1M jobs
        on PostgreSQL, so reused ~30 s like the monitor's own recount of finished states; a few ms on a small
        table, so reused for one interval. While the monitor thread runs, a stale value is served at once and
        the thread recomputes it (stale-while-revalidate), so no request waits for a count over every job."""
        with self._stats_lock:
            if self._stats is not None and self._stats_stale():
                if self._thread is None:
                    self._refresh_stats()
                else:
                    self._stats_wanted.set()
            elif self._stats is None:
                self._refresh_stats()
            assert self._stats is not None
            return self._stats

    def _stats_stale(self) -> bool:
        return time.monotonic() - self._stats_at > max(self.interval, STATS_REUSE_FACTOR * self._stats_cost)

    def _refresh_stats(self) -> None:
        started = time.monotonic()
        self._keep_stats(self.app.queue_stats(), started)

    def _keep_stats(self, stats: list[QueueStats], started: float) -> None:
        """Store freshly counted stats (the caller holds ``_stats_lock``)."""
        self._stats, self._stats_at = stats, time.monotonic()
        self._stats_cost = self._stats_at - started

    def invalidate(self, *, totals: bool = False) -> None:
        """Make the next read recompute (after a mutation through the API). ``totals`` also recounts the
        finished states (a retry moves jobs out of ``discarded``)."""
        with self._stats_lock:
            self._stats = None
        with self._lock:
            self._snapshot = None
            if totals:
                self._totals_at = 0.0

    # ------------------------------------------------------------------ one tick
    def tick(self) -> None:
        d = self.app.driver
        with self._lock, d.read() as conn:  # one snapshot: every figure of a tick agrees with the others
            now = clock.now()
            if not self._backfilled:
                self._backfill(conn, now)
            live = d.job_live_counts(conn)
            events: list[tuple[str, dict[str, Any]]] = []
            self._aggregate(conn, now)
            if now - self._totals_at >= (self.interval if self._totals_cost < 0.02 else self.slow_interval):
                started = time.perf_counter()
                self._finished_totals = d.job_finished_counts(conn)
                self._totals_cost = time.perf_counter() - started
                self._totals_at = now
            counts: dict[str, dict[str, int]] = {}
            for source in (live, self._finished_totals):
                for queue, by_state in source.items():
                    counts.setdefault(queue, {}).update(by_state)
            settings = d.queue_settings(conn)
            for queue in settings:
                counts.setdefault(queue, {})
            executing = d.job_executing(conn)
            workers = d.worker_list(conn)
            head = d.job_head_of_line(conn, [q for q, c in counts.items() if c.get(S.AVAILABLE.value)])
            events.extend(self._feed(conn, now, executing))
            self._snapshot = Snapshot(
                at=now,
                counts=counts,
                paused={q for q, (p, _) in settings.items() if p},
                limits={q: g for q, (_, g) in settings.items()},
                head_at=head,
                executing=executing,
                workers=workers,
                minute=self._window(now - 60),
                hour=self._window(now - 3600),
            )
        events.append(("stats", {"at": now}))
        for name, data in events:
            self.publish(name, data)

    def _backfill(self, conn: Connection, now: float) -> None:
        """Fill the chart series (24 h) and the per-queue slots (1 h) once, from the retained finished jobs."""
        d = self.app.driver
        end = now - self.lag
        for start, _queue, state, n in d.job_finished_series(conn, now - 86400, end, 60.0):
            self._count(self.minutes.setdefault(start, [0, 0]), state, n)
        for start, queue, state, n in d.job_finished_series(conn, now - 3600, end, SLOT):
            self._count(self.slots.setdefault(queue, {}).setdefault(start, [0, 0]), state, n)
        self._window_start = end
        self._event_after = end
        self._last_job_id = d.job_max_id(conn)
        self._last_run_id = d.schedule_run_max_id(conn)
        self._batches_after = now
        self._backfilled = True

    @staticmethod
    def _count(slot: list[int], state: str, n: int) -> None:
        if state == S.COMPLETED.value:
            slot[0] += n
        elif state == S.DISCARDED.value:
            slot[1] += n

    def _window(self, since: float) -> dict[str, tuple[int, int]]:
        """queue -> (completed, failed) in the slots that start at or after ``since`` (10-second precision)."""
        out = {}
        for queue, slots in self.slots.items():
            done = failed = 0
            for start, (c, f) in slots.items():
                if start >= since - SLOT / 2:
                    done += c
                    failed += f
            out[queue] = (done, failed)
        return out

    def _aggregate(self, conn: Connection, now: float) -> None:
        """Count jobs finished in [window start, now - lag) into counters, histograms and the series."""
        assert self._window_start is not None
        end = now - self.lag
        if end <= self._window_start:
            return
        for state in FINISHED_STATES:  # one range scan of the finished index per state
            rows = self.app.driver.job_finished_aggregate(conn, state, self._window_start, end, SLOT, DURATION_BUCKETS)
            for row in rows:
                n, start = row.count, row.slot_start
                self._count(self.slots.setdefault(row.queue, {}).setdefault(start, [0, 0]), state, n)
                self._count(self.minutes.setdefault(start - start % 60, [0, 0]), state, n)
                st = self.tasks.setdefault((row.queue, row.task), TaskStats())
                if state == S.COMPLETED.value:
                    st.completed += n
                elif state == S.DISCARDED.value:
                    st.failed += n
                else:
                    st.cancelled += n
                    continue
                st.duration_count += n
                st.duration_sum += row.duration_sum
                for i, b in enumerate(row.duration_buckets):
                    st.duration_buckets[i] += b
        self._window_start = end
        horizon = now - 86400 - 60
        for k in [k for k in self.minutes if k < horizon]:
            del self.minutes[k]
        for slots in self.slots.values():
            for k in [k for k in slots if k < now - 3600 - SLOT]:
                del slots[k]

    def _feed(
        self, conn: Connection, now: float, executing: list[dict[str, Any]]
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Events for the newest changes: finished and inserted jobs, progress, schedules, batches."""
        assert self._event_after is not None and self._last_job_id is not None and self._last_run_id is not None
        d = self.app.driver
        newest = self._event_after
        for r in d.job_finished_after(conn, self._event_after - self.lag, 200):
            newest = max(newest, r.finished_at)
            if r.id in self._event_seen_set:
                continue
            self._remember(r.id)
            yield "job", {"id": r.id, "queue": r.queue, "task": r.task, "state": r.state, "finished_at": r.finished_at}
        self._event_after = newest
        inserted = d.job_inserted_after(conn, self._last_job_id, 200)
        for job_id, queue, task, state in inserted:
            yield "job", {"id": job_id, "queue": queue, "task": task, "state": state}
        if inserted:
            self._last_job_id = inserted[-1][0] if len(inserted) < 200 else d.job_max_id(conn)
        progress: dict[int, Any] = {}
        for job in executing:
            progress[job["id"]] = job["progress"]
            self._note_origin(job["id"], job["attempted_at"], job["progress"])
            if job["id"] not in self._progress:
                yield "job", {"id": job["id"], "queue": job["queue"], "task": job["task"], "state": "executing"}
            if job["progress"] is not None and self._progress.get(job["id"]) != job["progress"]:
                view = progress_view(job["progress"], job["attempted_at"], self.origin(job["id"], job["attempted_at"]))
                yield "progress", {"id": job["id"], "progress": view}
        self._progress = progress
        for job_id in [i for i in self._origins if i not in progress]:
            del self._origins[job_id]
        for run in d.schedule_run_after(conn, self._last_run_id):
            self._last_run_id = run["id"]
            yield "schedule", {"key": run["schedule_key"], "run_id": run["id"], "job_id": run["job_id"]}
        assert self._batches_after is not None
        for b in d.batch_finished_after(conn, self._batches_after):
            self._batches_after = max(self._batches_after, float(b["finished_at"]) + 1e-6)
            yield "batch", {k: b[k] for k in ("id", "name", "state", "total", "completed", "failed", "cancelled")}

    def _note_origin(self, job_id: int, attempted_at: float | None, progress: dict[str, Any] | None) -> None:
        if not progress or not isinstance(progress.get("done"), int | float):
            return
        seen = self._origins.get(job_id)
        if seen is None or seen[0] != attempted_at:
            self._origins[job_id] = (attempted_at, float(progress["done"]), float(progress.get("at") or clock.now()))

    def origin(self, job_id: int, attempted_at: float | None) -> tuple[float, float] | None:
        """(done, at) of the first progress report this monitor saw of the job's current attempt, if any."""
        seen = self._origins.get(job_id)
        return None if seen is None or seen[0] != attempted_at else (seen[1], seen[2])

    def _remember(self, job_id: int) -> None:
        if len(self._event_seen) == self._event_seen.maxlen:
            self._event_seen_set.discard(self._event_seen[0])
        self._event_seen.append(job_id)
        self._event_seen_set.add(job_id)

    # ------------------------------------------------------------------ events
    def publish(self, name: str, data: dict[str, Any]) -> None:
        """Send an event to every subscriber (from any thread). A subscriber that cannot keep up loses
        events rather than slowing the monitor: the next ``stats`` event makes its page catch up."""
        for loop, queue in list(self._subscribers):

            def put(q: asyncio.Queue[tuple[str, dict[str, Any]]] = queue) -> None:
                with contextlib.suppress(asyncio.QueueFull):
                    q.put_nowait((name, data))

            with contextlib.suppress(RuntimeError):  # loop closed
                loop.call_soon_threadsafe(put)

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[asyncio.Queue[tuple[str, dict[str, Any]]]]:
        """A queue of ``(event name, data)`` for one SSE client, inside the running event loop."""
        entry = (asyncio.get_running_loop(), asyncio.Queue[tuple[str, dict[str, Any]]](maxsize=1000))
        self._subscribers.append(entry)
        try:
            yield entry[1]
        finally:
            self._subscribers.remove(entry)


def progress_view(
    progress: dict[str, Any] | None, attempted_at: float | None, origin: tuple[float, float] | None = None
) -> dict[str, Any] | None:
    """A job's stored progress plus percent, rate (units/s) and ETA (s).

    With ``origin`` (done, at: the first report seen, from :meth:`Monitor.origin`) the rate counts from that
    report: a snapshot import that spent minutes downloading before its first row would otherwise show an
    ETA many times too long. Until a second report arrives there is no rate yet. Without ``origin`` the
    rate counts from the start of the attempt."""
    if not progress:
        return None
    out = dict(progress)
    done, total, at = progress.get("done"), progress.get("total"), progress.get("at")
    out["percent"] = None
    out["rate"] = None
    out["eta"] = None
    if isinstance(done, int | float) and isinstance(total, int | float) and total > 0:
        out["percent"] = max(0.0, min(100.0, 100.0 * done / total))
    if not isinstance(done, int | float):
        return out
    now = float(at or clock.now())
    if origin is not None:
        moved, elapsed = done - origin[0], now - origin[1]
    elif attempted_at is not None:
        moved, elapsed = done, now - attempted_at
    else:
        return out
    if moved > 0 and elapsed > 0:
        out["rate"] = moved / elapsed
        if isinstance(total, int | float) and total > done:
            out["eta"] = (total - done) / out["rate"]
    return out
