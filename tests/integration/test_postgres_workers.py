"""PostgreSQL: many workers on one database, and the database misbehaving under them."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from conveyor import Conveyor
from conveyor.engine.states import JobState
from tests.integration.conftest import Workers, state_of, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("transitions_checked")]


@pytest.fixture
def pg_app(pg_url: str) -> Iterator[Conveyor]:
    a = Conveyor(pg_url)
    a.migrate()
    yield a
    a.close()  # before the database is dropped: the state-table check reads it


@pytest.fixture
def pg_workers(pg_app: Conveyor, tmp_path: Path) -> Workers:
    w = Workers(pg_app.settings.database_url, tmp_path)
    yield w  # type: ignore[misc]
    w.stop_all()


def _completed(app: Conveyor) -> int:
    return next(s.counts.get("completed", 0) for s in app.driver.queue_stats(time.time()) if s.queue == "default")


def test_four_worker_processes_run_20000_jobs_exactly_once(pg_app: Conveyor, pg_workers: Workers) -> None:
    ids = pg_app.enqueue_many([{"task": "record"} for _ in range(20_000)])
    procs = [pg_workers.start("--stop-when-empty", "--concurrency", "4", "--sleep", "0.2") for _ in range(4)]
    for p in procs:
        assert p.wait(300) == 0
    runs = pg_workers.executions()
    assert set(runs) == set(ids)  # none lost
    assert set(runs.values()) == {1}  # none run twice
    assert _completed(pg_app) == 20_000
    # every process did part of the work: the load really was shared
    assert len(list(pg_workers.out.glob("*.log"))) >= 4


def test_worker_survives_its_database_connections_being_terminated(pg_app: Conveyor, pg_workers: Workers) -> None:
    first = pg_app.enqueue_many([{"task": "record"} for _ in range(200)])
    w = pg_workers.start("--sleep", "0.1")
    wait_for(lambda: _completed(pg_app) == 200, 30, "the first batch")
    dbname = psycopg.conninfo.conninfo_to_dict(pg_app.settings.database_url.replace("+psycopg", ""))["dbname"]
    with psycopg.connect("postgresql://postgres@127.0.0.1/postgres", autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (dbname,),
        ).fetchone()[0]  # type: ignore[index]
    assert killed >= 2  # the worker's fetch, listen and heartbeat connections at least
    pg_app.close()  # ours were killed too
    second = pg_app.enqueue_many([{"task": "record"} for _ in range(200)])
    wait_for(lambda: _completed(pg_app) == 400, 60, "the batch after the connections were killed")
    runs = pg_workers.executions()
    assert set(runs) == set(first) | set(second) and set(runs.values()) == {1}
    assert w.poll() is None
    os.killpg(w.pid, signal.SIGTERM)
    assert w.wait(30) == 0
    err = w.stderr.read()  # type: ignore[union-attr]
    assert "database connection lost" in err or "database unavailable" in err


def test_worker_started_against_an_unreachable_database_waits_with_a_clear_message(
    tmp_path: Path,
) -> None:
    w = Workers("postgresql://postgres@127.0.0.1:1/nowhere", tmp_path)
    try:
        p = w.start("--sleep", "0.1")
        time.sleep(4)
        assert p.poll() is None  # still retrying, not crashed
        os.killpg(p.pid, signal.SIGTERM)
        assert p.wait(20) == 0
        err = p.stderr.read()  # type: ignore[union-attr]
        assert "database unreachable" in err and "retrying in" in err
        assert "Traceback" not in err
        assert err.count("\n") <= 6  # a line per attempt, no spam
    finally:
        w.stop_all()


def test_listen_notify_wakes_an_idle_worker_at_once(pg_app: Conveyor, pg_workers: Workers) -> None:
    w = pg_workers.start("--sleep", "30")  # polling alone would take up to 30 s
    time.sleep(2)
    job = pg_app.enqueue("record")
    wait_for(lambda: state_of(pg_app, job) == JobState.COMPLETED, 5, "the notified worker to run the job")
    os.killpg(w.pid, signal.SIGTERM)
    assert w.wait(30) == 0
