"""What one job costs a worker besides its body (issue #12): main-thread wake-ups, statements per batch of
acknowledgements or fetches. Correctness of the cheaper paths is checked beside their cost."""

from __future__ import annotations

import fcntl
import gc
import itertools
import os
import threading
import time
from dataclasses import replace
from typing import Any

import pytest

from conveyor import Conveyor
from conveyor.engine import clock
from conveyor.engine.states import JobState
from conveyor.worker.executor import Executor


class CountingEvent(threading.Event):
    def __init__(self) -> None:
        super().__init__()
        self.sets = 0

    def set(self) -> None:
        self.sets += 1
        super().set()


def test_runner_threads_do_not_wake_the_main_thread_after_every_job(
    app: Conveyor, monkeypatch: pytest.MonkeyPatch
) -> None:
    @app.task
    def quick(n: int) -> None:
        return None

    n = 400
    ids = app.enqueue_many([quick.job(i) for i in range(n)])
    executors: list[Executor] = []
    init = Executor.__init__

    def counting_init(self: Executor, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self.wake = CountingEvent()
        executors.append(self)

    monkeypatch.setattr(Executor, "__init__", counting_init)
    assert app.work(["default"], processes=0, concurrency=2, stop_when_empty=True, sleep=0.05) == 0

    assert {app.get_job(i).state for i in ids} == {JobState.COMPLETED}
    (executor,) = executors
    assert isinstance(executor.wake, CountingEvent)
    wakes = executor.wake.sets
    # One per refill, per start of a flush window and per notification: far fewer than one per job.
    assert wakes < n / 4, f"main thread woken {wakes} times for {n} jobs"


def _fetch(app: Conveyor, conn: Any, n: int, worker: str) -> list[int]:
    jobs = app.driver.fetch_available(conn, "default", n, worker, clock.now(), 60.0)
    assert len(jobs) == n
    return [j.id for j in jobs]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_acknowledges_jobs_outside_batches_in_one_autocommit_statement(app: Conveyor) -> None:
    @app.task
    def job(n: int) -> None:
        return None

    app.enqueue_many([job.job(i) for i in range(50)])
    conn = app.driver.connect()
    try:
        ids = _fetch(app, conn, 50, "w1")
        done = [(i, '{"n": "a\\"b\\t"}' if k % 2 else None) for k, i in enumerate(ids)]
        statements: list[str] = []
        conn.set_trace_callback(statements.append)
        app.driver.complete_jobs(conn, done, "w1", clock.now())
        conn.set_trace_callback(None)
    finally:
        conn.close()

    # SQLite reports a statement again at the start of each trigger program it runs (the test suite's
    # state-table trigger fires per row): repeats of one statement are one execution.
    executed = [sql.split()[0] for sql, _ in itertools.groupby(statements)]
    assert executed == ["UPDATE"]
    for k, i in enumerate(ids):
        record = app.get_job(i)
        assert record.state == JobState.COMPLETED
        assert record.result == ({"n": 'a"b\t'} if k % 2 else None)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_acknowledgement_of_a_job_no_longer_held_changes_nothing(app: Conveyor) -> None:
    @app.task
    def job(n: int) -> None:
        return None

    app.enqueue_many([job.job(i) for i in range(2)])
    conn = app.driver.connect()
    try:
        ours, theirs = _fetch(app, conn, 2, "w1")
        # The second job was rescued and taken by another worker meanwhile: our acknowledgement must not touch it.
        conn.execute("UPDATE conveyor_jobs SET worker_id = 'w2' WHERE id = ?", (theirs,))
        app.driver.complete_jobs(conn, [(ours, None), (theirs, '"late"')], "w1", clock.now())
    finally:
        conn.close()
    assert app.get_job(ours).state == JobState.COMPLETED
    late = app.get_job(theirs)
    assert late.state == JobState.EXECUTING and late.result is None


class StatementCounter:
    """A psycopg connection that records the statements sent and the transactions opened."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.statements: list[str] = []
        self.transactions = 0

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        self.statements.append(" ".join(str(sql).split())[:40])
        return self.conn.execute(sql, *args, **kwargs)

    def transaction(self) -> Any:
        self.transactions += 1
        return self.conn.transaction()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_postgres_fetches_and_acknowledges_jobs_outside_batches_in_one_round_trip_each(app: Conveyor) -> None:
    @app.task(store_result=True)
    def job(n: int) -> int:
        return n

    app.enqueue_many([job.job(i) for i in range(20)])
    raw = app.driver.connect()
    try:
        conn = StatementCounter(raw)
        ids = _fetch(app, conn, 20, "w1")
        assert (len(conn.statements), conn.transactions) == (1, 0)
        conn.statements.clear()
        app.driver.complete_jobs(conn, [(i, str(i)) for i in ids], "w1", clock.now())
        assert (len(conn.statements), conn.transactions) == (1, 0)
    finally:
        raw.close()
    assert [app.get_job(i).result for i in ids] == ids
    assert {app.get_job(i).state for i in ids} == {JobState.COMPLETED}


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_postgres_acknowledgements_of_batch_jobs_still_finish_their_batch(app: Conveyor) -> None:
    seen: list[int] = []

    @app.task
    def part(n: int) -> None:
        return None

    @app.task
    def single(n: int) -> None:
        return None

    @app.task
    def on_done(batch_id: int) -> None:
        seen.append(batch_id)

    batch = app.batch([part.job(i) for i in range(3)], name="b", on_complete=on_done)
    app.enqueue_many([single.job(i) for i in range(3)])
    raw = app.driver.connect()
    try:
        ids = _fetch(app, raw, 6, "w1")
        app.driver.complete_jobs(raw, [(i, None) for i in ids], "w1", clock.now())
    finally:
        raw.close()
    assert {app.get_job(i).state for i in ids} == {JobState.COMPLETED}
    finished = app.get_batch(batch.id)
    assert (finished.state, finished.completed) == ("completed", 3)
    assert finished.callback_job_id is not None


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_fetches_at_the_same_instant_give_each_worker_only_its_own_jobs(app: Conveyor) -> None:
    @app.task
    def job(n: int) -> None:
        return None

    app.enqueue_many([job.job(i) for i in range(10)])
    now = clock.now()
    conn = app.driver.connect()
    try:
        first = app.driver.fetch_available(conn, "default", 4, "w1", now, 60.0)
        second = app.driver.fetch_available(conn, "default", 4, "w2", now, 60.0)
    finally:
        conn.close()
    assert [j.args for j in first] == [f"[{i}]" for i in range(4)]
    assert [j.args for j in second] == [f"[{i}]" for i in range(4, 8)]
    assert all(j.attempt == 1 for j in first + second)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_hot_path_writers_queue_on_a_file_lock_beside_the_database(app: Conveyor) -> None:
    gate = app.driver._gate  # type: ignore[attr-defined]
    assert gate.path == f"{app.driver.engine.url.database}-conveyor-write.lock"
    outcome: list[str] = []

    def try_to_write() -> None:
        fd = os.open(gate.path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            outcome.append("got the lock")
        except BlockingIOError:
            outcome.append("must wait")
        finally:
            os.close(fd)

    with gate():
        other = threading.Thread(target=try_to_write)
        other.start()
        other.join()
    try_to_write()
    assert outcome == ["must wait", "got the lock"]


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_postgres_bulk_insert_is_two_statements_without_begin_or_commit(app: Conveyor) -> None:
    @app.task
    def job(n: int, label: str) -> None:
        return None

    raw = app.driver.connect()
    try:
        conn = StatementCounter(raw)
        # Rows that differ in the fields a COPY line shares with its neighbours, and text that needs escaping.
        label = 'tab\there\\ and "quotes"'
        now = clock.now()
        rows = [app._row(replace(job.job(i, label), priority=i % 3, queue=f"q{i % 2}"), now) for i in range(6)]
        ids = app.driver.insert_jobs(conn, rows)
        assert (len(conn.statements), conn.transactions) == (1, 0)  # the id allocation; COPY is a cursor's
    finally:
        raw.close()
    for i, job_id in enumerate(ids):
        record = app.get_job(job_id)
        assert (record.args, record.priority, record.queue) == ([i, 'tab\there\\ and "quotes"'], i % 3, f"q{i % 2}")


class RecordingStop(threading.Event):
    """A stop event that records each timeout the watcher waits with."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float | None] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        return super().wait(timeout)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_watcher_polls_fast_only_while_work_is_arriving(app: Conveyor) -> None:
    stop, wake = RecordingStop(), threading.Event()
    watcher = threading.Thread(
        target=app.driver.watch, args=(wake, stop), kwargs={"interval": 0.02, "fast_interval": 0.001, "fast_for": 60}
    )
    watcher.start()

    def waits_reach(n: int) -> None:
        deadline = time.monotonic() + 5
        while len(stop.waits) < n:
            assert time.monotonic() < deadline and watcher.is_alive(), "the watcher stopped polling"
            time.sleep(0.005)

    try:
        waits_reach(3)
        idle = list(stop.waits)
        app.enqueue("elsewhere")  # an app without tasks may queue any task name
        assert wake.wait(5), "the watcher did not see the commit"
        seen = len(stop.waits)
        waits_reach(seen + 3)
    finally:
        stop.set()
        watcher.join(5)
    assert set(idle) == {0.02}
    assert stop.waits[seen:] and set(stop.waits[seen:-1]) == {0.001}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_write_gate_closes_a_threads_lock_file_when_the_thread_ends(app: Conveyor) -> None:
    gate = app.driver._gate  # type: ignore[attr-defined]

    def open_lock_files() -> int:
        return sum(os.path.realpath(f"/proc/self/fd/{fd}") == gate.path for fd in os.listdir("/proc/self/fd"))

    def write_once() -> None:
        with gate():
            assert open_lock_files() >= 1

    before = open_lock_files()
    threads = [threading.Thread(target=write_once) for _ in range(5)]
    for t in threads:
        t.start()
        t.join()
    gc.collect()
    assert open_lock_files() == before


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_fetches_at_a_clock_that_did_not_move_never_return_a_job_twice(app: Conveyor) -> None:
    @app.task
    def job(n: int) -> None:
        return None

    app.enqueue_many([job.job(i) for i in range(6)])
    now = clock.now()
    conn = app.driver.connect()
    try:
        first = app.driver.fetch_available(conn, "default", 3, "w1", now, 60.0)
        second = app.driver.fetch_available(conn, "default", 3, "w1", now, 60.0)
    finally:
        conn.close()
    assert [j.args for j in first] == ["[0]", "[1]", "[2]"]
    assert [j.args for j in second] == ["[3]", "[4]", "[5]"]
