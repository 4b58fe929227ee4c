"""The driver suite for the dashboard's reads (``Driver.job_*``, ``job_error_last``, ``worker_*``,
``schedule_run_of_job``/``_after``/``_max_id``, ``queue_settings(conn)``): the same cases on every database.

Jobs are written as rows in the states a case needs (the monitor only reads them), with explicit instants.
PostgreSQL cases share one migrated database and empty the tables first; SQLite gets a fresh file per case.
How fast these queries stay on a big table is tests/store/test_monitoring_query_plans.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, insert

from conveyor.engine.states import JobState
from conveyor.scheduler.schema import runs
from conveyor.store import schema
from conveyor.store.base import Driver
from conveyor.store.queries import FinishedAggregate, FinishedRow, JobFilter, error_class
from tests.conftest import app_with_empty_table

T0 = 1_700_000_000.0
J = schema.jobs
S = JobState


@pytest.fixture(params=["sqlite", "postgres"])
def driver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Driver]:
    for app in app_with_empty_table(request, tmp_path, J):
        with app.driver.begin() as c:
            for table in (schema.job_errors, schema.workers, schema.queues, runs):
                c.execute(table.delete())
        yield app.driver


def _job(c: Connection, state: S = S.AVAILABLE, *, queue: str = "default", task: str = "t", **kw: Any) -> int:
    row = {"queue": queue, "task": task, "args": "[]", "kwargs": "{}", "state": state.value, "priority": 0,
           "attempt": 0, "max_attempts": 3, "created_at": T0, "scheduled_at": T0} | kw  # fmt: skip
    return int(c.execute(insert(J).values(**row).returning(J.c.id)).scalar_one())


def _done(c: Connection, state: S, finished_at: float, **kw: Any) -> int:
    return _job(c, state, attempt=1, attempted_at=finished_at - kw.pop("took", 1.0), finished_at=finished_at, **kw)


def test_live_counts_are_per_queue_and_state_for_waiting_and_executing_jobs_only(driver: Driver) -> None:
    with driver.begin() as c:
        for state, queue in [(S.AVAILABLE, "a"), (S.AVAILABLE, "a"), (S.SCHEDULED, "a"), (S.RETRYABLE, "b")]:
            _job(c, state, queue=queue)
        _job(c, S.EXECUTING, queue="b", attempt=1, worker_id="w")
        _done(c, S.COMPLETED, T0 + 1, queue="a")
    with driver.read() as c:
        assert driver.job_live_counts(c) == {
            "a": {"available": 2, "scheduled": 1},
            "b": {"retryable": 1, "executing": 1},
        }


def test_finished_counts_cover_every_retained_finished_job(driver: Driver) -> None:
    with driver.begin() as c:
        _done(c, S.COMPLETED, T0 + 1, queue="a")
        _done(c, S.COMPLETED, T0 - 86400 * 30, queue="a")
        _done(c, S.DISCARDED, T0 + 2, queue="b")
        _done(c, S.CANCELLED, T0 + 3, queue="b")
        _job(c, S.AVAILABLE, queue="a")
    with driver.read() as c:
        assert driver.job_finished_counts(c) == {"a": {"completed": 2}, "b": {"discarded": 1, "cancelled": 1}}


def test_head_of_line_is_the_job_each_queue_would_run_next(driver: Driver) -> None:
    with driver.begin() as c:
        _job(c, queue="a", scheduled_at=T0 + 5)
        _job(c, queue="a", scheduled_at=T0 + 9, priority=5)  # runs first: higher priority
        _job(c, queue="b", scheduled_at=T0 + 1)
        _job(c, queue="b", scheduled_at=T0 + 2)  # same priority: the lower id runs first
    with driver.read() as c:
        assert driver.job_head_of_line(c, ["a", "b", "empty"]) == {"a": T0 + 9, "b": T0 + 1}


def test_finished_series_counts_per_bucket_queue_and_state_in_a_half_open_range(driver: Driver) -> None:
    start = 1_700_000_040.0  # a multiple of 60
    with driver.begin() as c:
        _done(c, S.COMPLETED, start + 1, queue="a")
        _done(c, S.COMPLETED, start + 59, queue="a")
        _done(c, S.DISCARDED, start + 61, queue="a")
        _done(c, S.COMPLETED, start + 120, queue="b")  # at ``until``: outside
        _done(c, S.COMPLETED, start - 1, queue="b")  # before ``since``: outside
    with driver.read() as c:
        series = driver.job_finished_series(c, start, start + 120, 60.0)
    assert sorted(series) == [(start, "a", "completed", 2), (start + 60, "a", "discarded", 1)]


def test_finished_aggregate_counts_durations_and_histogram_per_queue_task_and_slot(driver: Driver) -> None:
    start = 1_700_000_000.0  # a multiple of 10
    with driver.begin() as c:
        _done(c, S.COMPLETED, start + 1, task="sync", took=0.5)
        _done(c, S.COMPLETED, start + 2, task="sync", took=3.0)
        _done(c, S.COMPLETED, start + 12, task="sync", took=1.0)
        _done(c, S.DISCARDED, start + 3, task="sync", took=1.0)
        _done(c, S.COMPLETED, start + 30, task="sync", took=1.0)  # at ``end``: outside
    with driver.read() as c:
        rows = driver.job_finished_aggregate(c, S.COMPLETED.value, start, start + 30, 10.0, (1.0, 5.0))
    assert sorted(rows, key=lambda r: r.slot_start) == [
        FinishedAggregate("default", "sync", start, 2, 3.5, [1, 2]),
        FinishedAggregate("default", "sync", start + 10, 1, 1.0, [1, 1]),
    ]


def test_finished_after_merges_the_states_oldest_first_up_to_the_limit(driver: Driver) -> None:
    with driver.begin() as c:
        a = _done(c, S.DISCARDED, T0 + 3)
        b = _done(c, S.COMPLETED, T0 + 1)
        d = _done(c, S.CANCELLED, T0 + 2)
        _done(c, S.COMPLETED, T0 - 1)  # before ``after``
        _done(c, S.COMPLETED, T0 + 4)  # past the limit
    with driver.read() as c:
        rows = driver.job_finished_after(c, T0, 3)
    assert [(r.id, r.state, r.finished_at) for r in rows] == [
        (b, "completed", T0 + 1),
        (d, "cancelled", T0 + 2),
        (a, "discarded", T0 + 3),
    ]
    assert rows[0] == FinishedRow(b, "default", "t", "completed", 1, T0, T0 + 1, T0)


def test_inserted_after_is_the_feed_of_new_jobs_by_id(driver: Driver) -> None:
    with driver.read() as c:
        assert driver.job_max_id(c) == 0
    with driver.begin() as c:
        ids = [_job(c, queue=f"q{i}") for i in range(3)]
    with driver.read() as c:
        assert driver.job_max_id(c) == ids[-1]
        assert driver.job_inserted_after(c, ids[0], 10) == [
            (i, f"q{n + 1}", "t", "available") for n, i in enumerate(ids[1:])
        ]
        assert driver.job_inserted_after(c, 0, 1) == [(ids[0], "q0", "t", "available")]


def test_executing_jobs_come_with_their_worker_and_decoded_progress(driver: Driver) -> None:
    progress = {"done": 5, "total": 10, "at": T0 + 1}
    with driver.begin() as c:
        a = _job(c, S.EXECUTING, attempt=1, attempted_at=T0, worker_id="host:1/1", progress=json.dumps(progress))
        b = _job(c, S.EXECUTING, attempt=2, attempted_at=T0, worker_id="host:1/2", cancel_requested=True)
        _job(c, S.AVAILABLE)
    with driver.read() as c:
        rows = sorted(driver.job_executing(c), key=lambda r: r["id"])
    assert [(r["id"], r["worker_id"], r["progress"], bool(r["cancel_requested"])) for r in rows] == [
        (a, "host:1/1", progress, False),
        (b, "host:1/2", None, True),
    ]


def test_discarded_jobs_are_read_newest_first_up_to_the_limit(driver: Driver) -> None:
    with driver.begin() as c:
        old = _done(c, S.DISCARDED, T0 + 1, task="a", queue="q1")
        new = _done(c, S.DISCARDED, T0 + 5, task="b", queue="q2")
        _done(c, S.COMPLETED, T0 + 9)
        _done(c, S.CANCELLED, T0 + 9)
    with driver.read() as c:
        assert driver.job_discarded(c) == [(new, "b", "q2", T0 + 5), (old, "a", "q1", T0 + 1)]
        assert driver.job_discarded(c, limit=1) == [(new, "b", "q2", T0 + 5)]


def test_search_filters_by_state_queue_and_task_newest_first_with_a_keyset_cursor(driver: Driver) -> None:
    with driver.begin() as c:
        ids = [_job(c, queue="shop", task="sync") for _ in range(4)]
        _job(c, queue="shop", task="other")
        _job(c, queue="mail", task="sync")
        _done(c, S.COMPLETED, T0 + 1, queue="shop", task="sync")
    f = JobFilter(state="available", queue="shop", task="sync")
    with driver.read() as c:
        first = driver.job_search(c, f, None, 3)
        rest = driver.job_search(c, f, first[-1]["id"], 3)
    assert [r["id"] for r in first] == ids[::-1][:3]
    assert [r["id"] for r in rest] == ids[:1]


def test_search_text_matches_an_id_or_an_argument_substring_with_like_wildcards_taken_literally(
    driver: Driver,
) -> None:
    with driver.begin() as c:
        pct = _job(c, args=json.dumps(["50%_off"]))
        plain = _job(c, args=json.dumps(["50 off"]))
        by_kwargs = _job(c, kwargs=json.dumps({"sku": "X-1"}))
    with driver.read() as c:
        assert [r["id"] for r in driver.job_search(c, JobFilter(q="50%_"), None, 10)] == [pct]
        assert [r["id"] for r in driver.job_search(c, JobFilter(q="X-1"), None, 10)] == [by_kwargs]
        assert [r["id"] for r in driver.job_search(c, JobFilter(q=str(plain)), None, 10)] == [plain]
        assert driver.job_search(c, JobFilter(q=str(2**64)), None, 10) == []


def test_last_error_is_the_newest_error_of_each_job(driver: Driver) -> None:
    E = schema.job_errors
    with driver.begin() as c:
        a, b, clean = _done(c, S.DISCARDED, T0), _done(c, S.DISCARDED, T0), _done(c, S.COMPLETED, T0)
        c.execute(insert(E), [
            {"job_id": a, "attempt": 1, "at": T0, "error": "ConnectionError: timed out"},
            {"job_id": a, "attempt": 2, "at": T0 + 1, "error": "KeyError: 'sku'"},
            {"job_id": b, "attempt": 1, "at": T0, "error": "worker lost: host:1 stopped renewing its lease"},
        ])  # fmt: skip
    with driver.read() as c:
        last = driver.job_error_last(c, [a, b, clean])
    assert last == {a: "KeyError: 'sku'", b: "worker lost: host:1 stopped renewing its lease"}
    assert [error_class(last[a]), error_class(last[b]), error_class(None)] == ["KeyError", "worker", "unknown"]


def test_last_error_reads_more_ids_than_one_statement_takes(driver: Driver) -> None:
    E = schema.job_errors
    with driver.begin() as c:
        ids = [_done(c, S.DISCARDED, T0) for _ in range(1_203)]
        c.execute(insert(E), [{"job_id": i, "attempt": 1, "at": T0, "error": f"E{i}"} for i in ids])
    with driver.read() as c:
        assert driver.job_error_last(c, ids) == {i: f"E{i}" for i in ids}


def _worker(worker_id: str, started_at: float) -> dict[str, Any]:
    return {"id": worker_id, "hostname": "host", "pid": 1, "queues": '["default"]', "processes": 2,
            "concurrency": 4, "started_at": started_at, "heartbeat_at": started_at}  # fmt: skip


def test_workers_are_listed_oldest_first_and_stale_ones_go_when_one_unregisters(driver: Driver) -> None:
    driver.register_worker(_worker("w-new", T0 + 10))
    driver.register_worker(_worker("w-old", T0))
    driver.register_worker(_worker("w-dead", T0 - 1000))
    driver.heartbeat_worker("w-old", T0 + 50)
    with driver.read() as c:
        listed = driver.worker_list(c)
    assert [(w["id"], w["heartbeat_at"]) for w in listed] == [
        ("w-dead", T0 - 1000),
        ("w-old", T0 + 50),
        ("w-new", T0 + 10),
    ]
    driver.unregister_worker("w-new", stale_before=T0 - 500)
    with driver.read() as c:
        assert [w["id"] for w in driver.worker_list(c)] == ["w-old"]


def test_schedule_runs_feed_and_the_run_that_queued_a_job(driver: Driver) -> None:
    with driver.read() as c:
        assert driver.schedule_run_max_id(c) == 0
    with driver.begin() as c:
        job = _job(c)
        first = c.execute(insert(runs).values(schedule_key="nightly", slot_at=T0, kind="cron", status="queued",
                                              job_id=job, created_at=T0).returning(runs.c.id)).scalar_one()  # fmt: skip
        second = c.execute(insert(runs).values(schedule_key="hourly", slot_at=None, kind="manual", status="skipped",
                                               created_at=T0 + 1).returning(runs.c.id)).scalar_one()  # fmt: skip
    with driver.read() as c:
        assert driver.schedule_run_of_job(c, job) == ("nightly", first)
        assert driver.schedule_run_of_job(c, job + 1000) is None
        assert driver.schedule_run_max_id(c) == second
        assert [(r["id"], r["schedule_key"], r["kind"], r["job_id"]) for r in driver.schedule_run_after(c, 0)] == [
            (first, "nightly", "cron", job),
            (second, "hourly", "manual", None),
        ]
        assert [r["id"] for r in driver.schedule_run_after(c, first)] == [second]


def test_queue_settings_read_in_the_callers_transaction(driver: Driver) -> None:
    driver.configure_queue("imports", 2, T0)
    driver.set_paused("mail", True, T0)
    with driver.read() as c:
        assert driver.queue_settings(c) == {"imports": (False, 2), "mail": (True, None)}
    assert driver.queue_settings() == {"imports": (False, 2), "mail": (True, None)}
