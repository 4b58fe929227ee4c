"""Job-level coordination: lock keys, unique jobs, snooze, cancel, progress, global queue limits."""

from __future__ import annotations

import multiprocessing
import threading
import time
from typing import Any

import pytest
from sqlalchemy import func, select

from conveyor import Conveyor, KeyTemplateError, Snooze, Unique, current_job
from conveyor.engine.states import JobState
from conveyor.store.schema import jobs as J
from conveyor.worker.executor import Executor
from conveyor.worker.options import WorkerOptions


def drain(app: Conveyor, concurrency: int = 4, queues: tuple[str, ...] = ("default",)) -> None:
    assert app.work(list(queues), processes=0, stop_when_empty=True, sleep=0.05, concurrency=concurrency) == 0


def count_jobs(app: Conveyor) -> int:
    with app.driver.begin() as c:
        return int(c.execute(select(func.count()).select_from(J)).scalar() or 0)


class Intervals:
    """Records when each job ran, to check what overlapped."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.spans: list[tuple[str, float, float]] = []

    def run(self, key: str, seconds: float) -> None:
        start = time.monotonic()
        time.sleep(seconds)
        with self.lock:
            self.spans.append((key, start, time.monotonic()))

    def overlapping(self, same_key: bool) -> int:
        n = 0
        for i, (k1, s1, e1) in enumerate(self.spans):
            for k2, s2, e2 in self.spans[i + 1 :]:
                if (k1 == k2) == same_key and s1 < e2 and s2 < e1:
                    n += 1
        return n


def test_lock_template_naming_a_missing_argument_is_refused_when_the_task_is_declared(app: Conveyor) -> None:
    with pytest.raises(KeyTemplateError, match=r"lock key 'shop:\{shop\}' of task 'sync' names 'shop'.*shop_id"):

        @app.task(lock="shop:{shop}")
        def sync(shop_id: int) -> None: ...


def test_lock_key_from_arguments_that_do_not_bind_is_a_clear_error_at_enqueue(app: Conveyor) -> None:
    @app.task(lock="shop:{shop_id}")
    def sync(shop_id: int) -> None: ...

    with pytest.raises(KeyTemplateError, match="cannot build the lock key of task 'sync'"):
        sync.enqueue()
    assert count_jobs(app) == 0


def test_jobs_with_the_same_lock_key_never_run_at_the_same_time(app: Conveyor) -> None:
    spans = Intervals()

    @app.task(lock="shop:{shop_id}")
    def sync(shop_id: int) -> None:
        spans.run(f"shop{shop_id}", 0.15)

    ids = app.enqueue_many([sync.job(s) for s in (1, 1, 1, 2, 2, 3)])
    drain(app, concurrency=4)
    assert spans.overlapping(same_key=True) == 0
    assert spans.overlapping(same_key=False) > 0  # different shops did run side by side
    assert {app.get_job(i).attempt for i in ids} == {1}  # waiting for the lock spent no attempt


def test_duplicate_unique_job_returns_the_existing_id_and_writes_nothing(app: Conveyor) -> None:
    @app.task(unique=Unique(key="orders:{shop_id}"))
    def fetch_orders(shop_id: int, since: str = "") -> None: ...

    first = fetch_orders.enqueue(1, since="a")
    assert fetch_orders.enqueue(1, since="b") == first
    assert app.enqueue("fetch_orders", args=[1]) == first
    other = fetch_orders.enqueue(2)
    assert other != first
    assert count_jobs(app) == 2
    drain(app)
    again = fetch_orders.enqueue(1)  # the first one completed: no longer blocks
    assert again not in (first, other)


def test_unique_period_allows_one_job_per_window(app: Conveyor) -> None:
    from conveyor.engine import clock

    now = [1_000_000.0]
    clock.set_clock(lambda: now[0])

    @app.task(unique=Unique(period=300, states=("available", "scheduled", "executing", "completed")))
    def refresh() -> None: ...

    a = refresh.enqueue()
    now[0] += 100
    assert refresh.enqueue() == a
    now[0] += 300
    assert refresh.enqueue() != a


def test_per_call_unique_key(app: Conveyor) -> None:
    @app.task
    def webhook(code: str) -> None: ...

    a = webhook.enqueue("A1", unique_key="order:A1")
    assert webhook.enqueue("A1", unique_key="order:A1") == a
    assert webhook.enqueue("A1") != a  # without a key it is an ordinary job
    assert app.enqueue_many([{"task": "webhook", "args": ["A1"], "unique_key": "order:A1"}]) == [a]


def _enqueue_unique(url: str, barrier: Any, out: Any) -> None:
    app = Conveyor(url)

    @app.task(unique=Unique(key="stock:{shop}"))
    def full_stock_sync(shop: str) -> None: ...

    barrier.wait()
    out.put(full_stock_sync.enqueue("acme"))
    app.close()


def test_eight_processes_enqueueing_the_same_unique_job_make_exactly_one_row(app: Conveyor) -> None:
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(8), ctx.Queue()
    procs = [ctx.Process(target=_enqueue_unique, args=(app.settings.database_url, barrier, out)) for _ in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    ids = {out.get(timeout=5) for _ in range(8)}
    assert len(ids) == 1
    assert count_jobs(app) == 1


def test_snoozed_job_runs_again_later_without_spending_an_attempt(app: Conveyor) -> None:
    calls: list[int] = []

    @app.task(max_attempts=1)
    def call_shop_api() -> None:
        calls.append(current_job().attempt)
        if len(calls) == 1:
            raise Snooze(0.2)  # 429 Too Many Requests, Retry-After: 0.2 s

    job = call_shop_api.enqueue()
    drain(app)
    rec = app.get_job(job)
    assert rec.state == JobState.SCHEDULED and rec.attempt == 0 and rec.errors == []
    time.sleep(0.3)
    drain(app)
    rec = app.get_job(job)
    assert rec.state == JobState.COMPLETED and calls == [1, 1]


def test_cancelled_waiting_job_never_starts(app: Conveyor) -> None:
    ran: list[int] = []

    @app.task
    def work(i: int) -> None:
        ran.append(i)

    a, b = work.enqueue(1), work.enqueue(2)
    assert app.cancel(a) == "cancelled"
    drain(app)
    assert ran == [2] and app.get_job(a).state == JobState.CANCELLED
    assert app.cancel(b) == "finished"


def test_running_job_sees_cancellation_and_ends_cancelled(app: Conveyor) -> None:
    started = threading.Event()
    saw: list[bool] = []

    @app.task
    def long_import() -> None:
        started.set()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not current_job().cancelled:
            time.sleep(0.02)
        saw.append(current_job().cancelled)

    job = long_import.enqueue()
    ex = Executor(app, WorkerOptions(queues=["default"], processes=0, sleep=0.05), "test/1")
    t = threading.Thread(target=ex.run)
    t.start()
    assert started.wait(10)
    assert app.cancel(job) == "requested"
    deadline = time.monotonic() + 10
    while app.get_job(job).state == JobState.EXECUTING and time.monotonic() < deadline:
        time.sleep(0.05)
    ex.request_stop()
    t.join(10)
    assert saw == [True]
    assert app.get_job(job).state == JobState.CANCELLED


def test_progress_is_stored_on_the_job(app: Conveyor) -> None:
    @app.task
    def import_rows(n: int) -> None:
        for i in range(1, n + 1):
            current_job().progress(i, n, message="rows")

    job = import_rows.enqueue(10_000)
    drain(app)
    rec = app.get_job(job)
    assert rec.progress is not None
    assert (rec.progress["done"], rec.progress["total"], rec.progress["message"]) == (10_000, 10_000, "rows")


def test_global_queue_limit_holds_across_the_worker(app: Conveyor) -> None:
    spans = Intervals()

    @app.task(queue="integrations")
    def call_api(i: int) -> None:
        spans.run("api", 0.1)

    app.queue("integrations", global_limit=2)
    app.enqueue_many([call_api.job(i) for i in range(8)])
    drain(app, concurrency=6, queues=("integrations",))
    assert len(spans.spans) == 8
    peak = max(sum(1 for _, s, e in spans.spans if s <= t < e) for _, t, _ in spans.spans)
    assert peak <= 2


def test_invalid_global_limit_is_refused(app: Conveyor) -> None:
    with pytest.raises(ValueError, match="global_limit must be >= 1"):
        app.queue("q", global_limit=0)
