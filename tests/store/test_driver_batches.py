"""The driver suite for ``conveyor_batches`` (``Driver.batch_*`` and ``settle_batches``): the same cases
against every database.

These drive the driver directly (insert, fetch, acknowledge on raw connections) with explicit instants; the
app-level behaviour (callbacks built with their task's options, retrying a batch) is tested in
tests/coordination/test_batches.py. PostgreSQL cases share one migrated database and empty the tables
first; SQLite gets a fresh file per case.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from conveyor.engine.job import InsertRow
from conveyor.engine.states import JobState
from conveyor.store import schema
from conveyor.store.base import Driver, Failure
from conveyor.store.queries import BatchRecord
from tests.conftest import app_with_empty_table

T0 = 1_700_000_000.0
J = schema.jobs
S = JobState


@pytest.fixture(params=["sqlite", "postgres"])
def driver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Driver]:
    for app in app_with_empty_table(request, tmp_path, schema.batches):
        with app.driver.begin() as c:
            c.execute(schema.job_errors.delete())
            c.execute(J.delete())
        yield app.driver


def _batch(driver: Driver, n: int, *, name: str = "b", on_complete: str | None = None,
           on_failure: str | None = None, queue: str = "default", at: float = T0) -> tuple[int, list[int]]:  # fmt: skip
    """A batch of ``n`` available jobs in ``queue``, written as the app writes one: one transaction."""
    with driver.begin() as c:
        batch_id = driver.batch_insert(
            c, name=name, total=n, on_complete=on_complete, on_failure=on_failure, callback_queue="callbacks", now=at
        )
        rows = [InsertRow(queue, "part", f"[{i}]", "{}", S.AVAILABLE.value, 0, 1, None, at, at, batch_id=batch_id)
                for i in range(n)]  # fmt: skip
        ids = driver.insert_jobs(c.connection.driver_connection, rows, in_transaction=True)
    return batch_id, ids


def _fetch_all(driver: Driver, conn: Any, queue: str, n: int, worker: str) -> list[int]:
    return [j.id for j in driver.fetch_available(conn, queue, n, worker, T0 + 1, 60)]


def _callbacks(driver: Driver, task: str) -> list[tuple[str, str, str]]:
    with driver.read() as c:
        return [tuple(r) for r in c.execute(select(J.c.task, J.c.args, J.c.queue).where(J.c.task == task))]


def _get(driver: Driver, batch_id: int) -> BatchRecord:
    b = driver.batch_get(batch_id)
    assert b is not None
    return b


def test_a_new_batch_is_running_with_every_job_pending(driver: Driver) -> None:
    batch_id, ids = _batch(driver, 3, name="stock", on_complete="done", on_failure="failed")
    b = _get(driver, batch_id)
    assert (b.name, b.state, b.total, b.completed, b.failed, b.cancelled) == ("stock", "running", 3, 0, 0, 0)
    assert (b.pending, b.progress, b.created_at, b.finished_at) == (3, 0.0, T0, None)
    assert (b.on_complete, b.on_failure, b.callback_job_id) == ("done", "failed", None)
    with driver.read() as c:
        assert sorted(i for (i,) in c.execute(select(J.c.id).where(J.c.batch_id == batch_id))) == sorted(ids)


def test_an_unknown_batch_reads_as_none(driver: Driver) -> None:
    assert driver.batch_get(424242) is None


def test_batches_are_listed_newest_first_and_page_by_id(driver: Driver) -> None:
    made = [_batch(driver, 1, name=f"b{i}")[0] for i in range(5)]
    first = driver.batch_list(limit=2)
    assert [b.id for b in first] == made[::-1][:2]
    rest = driver.batch_list(limit=10, before_id=first[-1].id)
    assert [b.id for b in rest] == made[::-1][2:]


def test_the_last_completed_job_finishes_the_batch_and_inserts_its_callback_once(driver: Driver) -> None:
    batch_id, _ = _batch(driver, 3, on_complete="report", on_failure="alert")
    conn = driver.connect()
    try:
        held = _fetch_all(driver, conn, "default", 3, "w1")
        driver.complete_jobs(conn, [(i, None) for i in held[:2]], "w1", T0 + 2)
        assert (_get(driver, batch_id).completed, _get(driver, batch_id).state) == (2, "running")
        driver.complete_jobs(conn, [(held[2], None)], "w1", T0 + 3)
    finally:
        conn.close()
    b = _get(driver, batch_id)
    assert (b.state, b.completed, b.pending, b.finished_at) == ("completed", 3, 0, T0 + 3)
    assert _callbacks(driver, "report") == [("report", f"[{batch_id}]", "callbacks")]
    assert _callbacks(driver, "alert") == []
    with driver.read() as c:
        assert c.execute(select(J.c.id).where(J.c.task == "report")).scalar_one() == b.callback_job_id


def test_a_discarded_job_makes_the_batch_failed_and_fires_on_failure(driver: Driver) -> None:
    batch_id, _ = _batch(driver, 2, on_complete="report", on_failure="alert")
    conn = driver.connect()
    try:
        a, b_ = _fetch_all(driver, conn, "default", 2, "w1")
        driver.complete_jobs(conn, [(a, None)], "w1", T0 + 2)
        driver.fail_jobs(conn, [Failure(b_, 1, "ValueError: bad row", None, None)], "w1", T0 + 3)
    finally:
        conn.close()
    b = _get(driver, batch_id)
    assert (b.state, b.completed, b.failed) == ("failed", 1, 1)
    assert _callbacks(driver, "alert") == [("alert", f"[{batch_id}]", "callbacks")]
    assert _callbacks(driver, "report") == []


def _acknowledge_at_once(driver: Driver, queue: str, workers: int) -> None:
    """Each of ``workers`` workers holds one job of ``queue`` and acknowledges it at the same moment."""
    conns = [driver.connect() for _ in range(workers)]
    try:
        held = [_fetch_all(driver, conns[w], queue, 1, f"w{w}") for w in range(workers)]
        assert [len(h) for h in held] == [1] * workers
        start = threading.Barrier(workers)
        errors: list[BaseException] = []

        def ack(w: int) -> None:
            try:
                start.wait()
                driver.complete_jobs(conns[w], [(held[w][0], None)], f"w{w}", T0 + 5)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=ack, args=(w,)) for w in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert errors == []
    finally:
        for c in conns:
            c.close()


def test_concurrent_acknowledgements_settle_the_batch_exactly_once(driver: Driver) -> None:
    """Every job of each batch is acknowledged at the same moment by a worker of its own: the counts add
    up and exactly one of them sees the batch finish (one callback, one final state)."""
    workers = 6
    for round_ in range(4):
        batch_id, _ = _batch(driver, workers, on_complete="report", queue=f"race{round_}")
        _acknowledge_at_once(driver, f"race{round_}", workers)
        b = _get(driver, batch_id)
        assert (b.state, b.completed, b.pending) == ("completed", workers, 0), f"round {round_}"
        with driver.read() as c:
            callbacks = c.execute(select(J.c.id).where(J.c.task == "report", J.c.args == f"[{batch_id}]")).all()
        assert [r[0] for r in callbacks] == [b.callback_job_id], f"round {round_}"


def test_cancel_cancels_waiting_jobs_asks_running_ones_and_counts_them(driver: Driver) -> None:
    batch_id, _ = _batch(driver, 3, on_complete="report")
    conn = driver.connect()
    try:
        running = _fetch_all(driver, conn, "default", 1, "w1")
    finally:
        conn.close()
    assert driver.batch_cancel(batch_id, T0 + 9) == (2, 1)
    with driver.read() as c:
        rows = {r[0]: (r[1], bool(r[2])) for r in c.execute(select(J.c.id, J.c.state, J.c.cancel_requested))}
    assert rows[running[0]] == (S.EXECUTING.value, True)
    assert sorted(v for k, v in rows.items() if k != running[0]) == [(S.CANCELLED.value, False)] * 2
    b = _get(driver, batch_id)
    assert (b.state, b.cancelled, b.pending) == ("running", 2, 1)


def test_cancelling_every_job_finishes_the_batch_cancelled_without_a_callback(driver: Driver) -> None:
    batch_id, _ = _batch(driver, 2, on_complete="report", on_failure="alert")
    assert driver.batch_cancel(batch_id, T0 + 9) == (2, 0)
    b = _get(driver, batch_id)
    assert (b.state, b.cancelled, b.finished_at, b.callback_job_id) == ("cancelled", 2, T0 + 9, None)
    assert _callbacks(driver, "report") == _callbacks(driver, "alert") == []


def test_discarded_ids_and_failed_jobs_are_the_batchs_own(driver: Driver) -> None:
    batch_id, _ = _batch(driver, 3, queue="mine")
    other_id, _ = _batch(driver, 1, queue="other")
    conn = driver.connect()
    try:
        a, b_, c_ = _fetch_all(driver, conn, "mine", 3, "w1")
        (o,) = _fetch_all(driver, conn, "other", 1, "w1")
        fail = [Failure(i, 1, "KeyError: sku", None, None) for i in (a, o)]
        driver.fail_jobs(conn, fail, "w1", T0 + 2)
        driver.complete_jobs(conn, [(b_, None)], "w1", T0 + 2)
    finally:
        conn.close()
    driver.cancel(c_, T0 + 3)  # asked to stop: still executing, not failed
    assert driver.batch_discarded_job_ids(batch_id) == [a]
    assert driver.batch_discarded_job_ids(other_id) == [o]
    with driver.read() as c:
        rows = driver.batch_failed_jobs(c, batch_id, 10)
    assert [(r["id"], r["state"]) for r in rows] == [(a, S.DISCARDED.value)]


def test_failed_jobs_of_a_batch_are_newest_first_and_limited(driver: Driver) -> None:
    batch_id, ids = _batch(driver, 4)
    driver.batch_cancel(batch_id, T0 + 1)
    with driver.read() as c:
        rows = driver.batch_failed_jobs(c, batch_id, 3)
    assert [r["id"] for r in rows] == sorted(ids, reverse=True)[:3]
    assert {r["state"] for r in rows} == {S.CANCELLED.value}


def test_batches_finished_after_an_instant_are_read_in_finishing_order(driver: Driver) -> None:
    early, _ = _batch(driver, 1)
    late, _ = _batch(driver, 1)
    running, _ = _batch(driver, 1)
    driver.batch_cancel(late, T0 + 20)
    driver.batch_cancel(early, T0 + 10)
    with driver.read() as c:
        assert [b["id"] for b in driver.batch_finished_after(c, T0)] == [early, late]
        assert [(b["id"], b["state"], b["cancelled"]) for b in driver.batch_finished_after(c, T0 + 15)] == [
            (late, "cancelled", 1)
        ]
    assert _get(driver, running).state == "running"


def test_a_batch_row_deleted_before_its_jobs_finish_is_skipped_by_settlement(driver: Driver) -> None:
    batch_id, _ = _batch(driver, 1, on_complete="report")
    with driver.begin() as c:
        c.execute(schema.batches.delete().where(schema.batches.c.id == batch_id))
    conn = driver.connect()
    try:
        (job,) = _fetch_all(driver, conn, "default", 1, "w1")
        driver.complete_jobs(conn, [(job, None)], "w1", T0 + 2)
    finally:
        conn.close()
    assert driver.get_job(job).state == S.COMPLETED
    assert _callbacks(driver, "report") == []


def test_batch_and_jobs_created_in_one_transaction_vanish_together_on_error(driver: Driver) -> None:
    with pytest.raises(RuntimeError, match="boom"), driver.begin() as c:
        driver.batch_insert(c, name="x", total=1, on_complete=None, on_failure=None, callback_queue=None, now=T0)
        raise RuntimeError("boom")
    assert driver.batch_list() == []
