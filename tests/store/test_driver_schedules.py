"""The driver suite for ``conveyor_schedules`` and ``conveyor_schedule_runs`` (``Driver.schedule_*`` and
``Driver.schedule_run_*``): the same cases against every database.

Every method takes the caller's transaction (the scheduler runs a whole tick in one); these cases open it
with ``driver.begin()``. Cron evaluation and the catalog above them are tested in tests/scheduler/.

PostgreSQL cases share one migrated database and empty the tables they touch first; SQLite gets a fresh
file per case.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, func, select

from conveyor import Conveyor
from conveyor.engine.states import JobState
from conveyor.scheduler.schema import runs, schedules
from conveyor.store import schema
from conveyor.store.base import Failure

T0 = 1_700_000_000.0
W = "host:1:abc/1"


@pytest.fixture(params=["sqlite", "postgres"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Conveyor]:
    if request.param == "sqlite":
        a = Conveyor(f"sqlite:///{tmp_path / 'conveyor.db'}")
        a.migrate()
    else:
        a = Conveyor(request.getfixturevalue("module_pg_url"))
        with a.driver.begin() as c:
            for table in (runs, schedules, schema.job_errors, schema.jobs):
                c.execute(table.delete())
    yield a
    a.close()


def _schedule(key: str, next_at: float | None = None, **extra: Any) -> dict[str, Any]:
    row = {
        "key": key,
        "task": "t",
        "description": "",
        "declared_cron": "* * * * *",
        "declared_timezone": "UTC",
        "orphaned": False,
        "active_since": T0,
        "next_at": next_at,
        "created_at": T0,
        "updated_at": T0,
    }
    return row | extra


def _claim(key: str, slot: float, status: str = "queued") -> dict[str, Any]:
    return {"schedule_key": key, "slot_at": slot, "kind": "cron", "status": status, "reason": None, "created_at": T0}


def _enqueuer(app: Conveyor, conn: Connection, seen: list[list[dict[str, Any]]]) -> Any:
    """The scheduler's enqueue callback: a real job per won ``queued`` slot, in the claim's transaction."""

    def enqueue(won: list[dict[str, Any]]) -> list[int | None]:
        seen.append(won)
        todo = [{"task": "t", "args": [r["schedule_key"]]} for r in won if r["status"] == "queued"]
        ids = iter(app.enqueue_many(todo, connection=conn) if todo else [])
        return [next(ids) if r["status"] == "queued" else None for r in won]

    return enqueue


def _runs(app: Conveyor) -> list[dict[str, Any]]:
    with app.driver.read() as c:
        return [dict(r) for r in c.execute(select(runs).order_by(runs.c.id)).mappings()]


def _job_count(app: Conveyor) -> int:
    with app.driver.read() as c:
        return int(c.execute(select(func.count()).select_from(schema.jobs)).scalar_one())


def test_importing_conveyor_loads_the_schedule_queries_but_not_the_scheduler() -> None:
    code = "import sys, conveyor.store.base; print('conveyor.scheduler' in sys.modules, 'croniter' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.split() == ["False", "False"]


# ---------------------------------------------------------------------- conveyor_schedules
def test_insert_adds_new_rows_and_leaves_existing_ones_untouched(app: Conveyor) -> None:
    d = app.driver
    with d.begin() as c:
        d.schedule_insert(c, [_schedule("a", T0 + 60, description="first")])
    with d.begin() as c:
        d.schedule_insert(c, [_schedule("a", T0 + 999, description="second"), _schedule("b", T0 + 120)])
        rows = d.schedule_load(c)
    assert sorted(rows) == ["a", "b"]
    assert (rows["a"]["description"], rows["a"]["next_at"]) == ("first", T0 + 60)


def test_insert_of_more_rows_than_one_statement_holds(app: Conveyor) -> None:
    d = app.driver
    with d.begin() as c:
        d.schedule_insert(c, [_schedule(f"s{i:04d}", T0 + i) for i in range(1234)])
        assert len(d.schedule_load(c)) == 1234


def test_load_reads_every_row_or_only_the_given_keys(app: Conveyor) -> None:
    d = app.driver
    with d.begin() as c:
        d.schedule_insert(c, [_schedule(k, T0) for k in ("a", "b", "c")])
        assert sorted(d.schedule_load(c, ["a", "c", "missing"])) == ["a", "c"]
        assert d.schedule_load(c, []) == {}


def test_update_writes_the_given_columns_of_each_named_row(app: Conveyor) -> None:
    d = app.driver
    with d.begin() as c:
        d.schedule_insert(c, [_schedule(k, T0) for k in ("a", "b", "c")])
        d.schedule_update(
            c,
            [
                {"b_key": "a", "cron": "*/5 * * * *", "next_at": T0 + 300},
                {"b_key": "b", "cron": None, "next_at": None},
            ],
        )
        d.schedule_update(c, [])
        rows = d.schedule_load(c)
    assert [(rows[k]["cron"], rows[k]["next_at"]) for k in "abc"] == [
        ("*/5 * * * *", T0 + 300),
        (None, None),
        (None, T0),
    ]


def test_due_returns_active_schedules_whose_next_slot_has_come(app: Conveyor) -> None:
    d = app.driver
    with d.begin() as c:
        d.schedule_insert(c, [_schedule("past", T0 - 1), _schedule("now", T0), _schedule("later", T0 + 1)])
        d.schedule_insert(c, [_schedule("off", None)])
        assert sorted(r["key"] for r in d.schedule_due(c, T0)) == ["now", "past"]
        assert sorted(r["key"] for r in d.schedule_due(c, T0, everything=True)) == ["later", "now", "past"]


def test_next_due_at_is_the_earliest_active_slot(app: Conveyor) -> None:
    d = app.driver
    with d.begin() as c:
        assert d.schedule_next_due_at(c) is None
        d.schedule_insert(c, [_schedule("off", None)])
        assert d.schedule_next_due_at(c) is None
        d.schedule_insert(c, [_schedule("a", T0 + 30), _schedule("b", T0 + 10)])
        assert d.schedule_next_due_at(c) == T0 + 10


def test_set_next_at_stores_each_slot_and_leaves_other_rows(app: Conveyor) -> None:
    d = app.driver
    keys = [f"s{i:04d}" for i in range(1500)]
    with d.begin() as c:
        d.schedule_insert(c, [_schedule(k, T0) for k in [*keys, "untouched"]])
        d.schedule_set_next_at(c, [(k, T0 + i) for i, k in enumerate(keys)])
        d.schedule_set_next_at(c, [])
        rows = d.schedule_load(c)
    assert [rows[k]["next_at"] for k in keys] == [T0 + i for i in range(1500)]
    assert rows["untouched"]["next_at"] == T0


def test_a_rolled_back_tick_writes_nothing(app: Conveyor) -> None:
    d = app.driver
    with pytest.raises(RuntimeError, match="tick failed"), d.begin() as c:
        d.schedule_insert(c, [_schedule("a", T0)])
        d.schedule_run_claim_slots(c, [_claim("a", T0)], _enqueuer(app, c, []))
        raise RuntimeError("tick failed")
    with d.begin() as c:
        assert d.schedule_load(c) == {}
    assert _runs(app) == [] and _job_count(app) == 0


# ---------------------------------------------------------------------- conveyor_schedule_runs: claims
def test_claim_enqueues_and_links_a_job_per_won_slot(app: Conveyor) -> None:
    d = app.driver
    seen: list[list[dict[str, Any]]] = []
    claims = [_claim("a", T0), _claim("b", T0), _claim("c", T0, status="skipped")]
    with d.begin() as c:
        won = d.schedule_run_claim_slots(c, claims, _enqueuer(app, c, seen))
    assert [r["schedule_key"] for r, _ in won] == ["a", "b", "c"]
    assert seen == [claims]
    by_key = {r["schedule_key"]: r for r in _runs(app)}
    job_ids = {r["schedule_key"]: j for r, j in won}
    assert job_ids["c"] is None and by_key["c"]["job_id"] is None and by_key["c"]["status"] == "skipped"
    for key in ("a", "b"):
        assert by_key[key]["job_id"] == job_ids[key] is not None
        assert app.get_job(job_ids[key]).args == [key]


def test_a_claimed_slot_is_not_won_again(app: Conveyor) -> None:
    d = app.driver
    with d.begin() as c:
        d.schedule_run_claim_slots(c, [_claim("a", T0)], _enqueuer(app, c, []))
    seen: list[list[dict[str, Any]]] = []
    with d.begin() as c:
        won = d.schedule_run_claim_slots(c, [_claim("a", T0), _claim("a", T0 + 60)], _enqueuer(app, c, seen))
    assert [(r["schedule_key"], r["slot_at"]) for r, _ in won] == [("a", T0 + 60)]
    assert [[r["slot_at"] for r in batch] for batch in seen] == [[T0 + 60]]
    assert len(_runs(app)) == 2 and _job_count(app) == 2


def test_claim_of_nothing_enqueues_nothing(app: Conveyor) -> None:
    d = app.driver
    seen: list[list[dict[str, Any]]] = []
    with d.begin() as c:
        assert d.schedule_run_claim_slots(c, [], _enqueuer(app, c, seen)) == []
    assert seen == [] and _runs(app) == []


def test_concurrent_schedulers_claim_each_slot_exactly_once(app: Conveyor) -> None:
    d = app.driver
    claims = [_claim(f"s{i}", T0 + 60 * j) for i in range(40) for j in range(3)]
    start = threading.Barrier(3)
    won: list[list[tuple[dict[str, Any], int | None]]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def tick() -> None:
        try:
            start.wait()
            with d.begin() as c:
                got = d.schedule_run_claim_slots(c, [dict(r) for r in claims], _enqueuer(app, c, []))
            with lock:
                won.append(got)
        except BaseException as exc:  # reported below: a failed thread must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=tick) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    slots = [(r["schedule_key"], r["slot_at"]) for got in won for r, _ in got]
    assert sorted(slots) == sorted((r["schedule_key"], r["slot_at"]) for r in claims)  # each once, none lost
    assert len(_runs(app)) == len(claims) and _job_count(app) == len(claims)


def test_claimed_tells_which_slots_are_taken(app: Conveyor) -> None:
    d = app.driver
    with d.begin() as c:
        d.schedule_run_claim_slots(c, [_claim("a", T0), _claim("b", T0 + 60)], _enqueuer(app, c, []))
        d.schedule_run_insert(c, _claim("a", T0) | {"slot_at": None, "kind": "trigger"})  # never a slot
        pairs = [("a", T0), ("a", T0 + 60), ("b", T0 + 60), ("c", T0)]
        assert d.schedule_run_claimed(c, pairs) == {("a", T0), ("b", T0 + 60)}


# ---------------------------------------------------------------------- conveyor_schedule_runs: triggers, history
def test_manual_runs_never_conflict_and_link_to_their_jobs(app: Conveyor) -> None:
    d = app.driver
    trigger = {"schedule_key": "a", "slot_at": None, "kind": "trigger", "status": "queued", "created_at": T0}
    with d.begin() as c:
        first, second = d.schedule_run_insert(c, trigger), d.schedule_run_insert(c, trigger)
        job = app.enqueue("t", connection=c)
        d.schedule_run_link_jobs(c, [(second, job)])
        d.schedule_run_link_jobs(c, [])
    assert [(r["id"], r["job_id"]) for r in _runs(app)] == [(first, None), (second, job)]


def test_history_is_newest_first_with_the_job_state_and_last_is_per_key(app: Conveyor) -> None:
    d = app.driver
    with d.begin() as c:
        d.schedule_run_claim_slots(c, [_claim("a", T0), _claim("b", T0)], _enqueuer(app, c, []))
    with d.begin() as c:
        d.schedule_run_claim_slots(c, [_claim("a", T0 + 60)], _enqueuer(app, c, []))
    with d.begin() as c:
        history = d.schedule_run_history(c, "a", 10)
        assert [r["slot_at"] for r in history] == [T0 + 60, T0]
        assert [r["job_state"] for r in history] == ["available", "available"]
        assert [r["slot_at"] for r in d.schedule_run_history(c, "a", 1)] == [T0 + 60]
        last = d.schedule_run_last(c)
    assert {k: r["slot_at"] for k, r in last.items()} == {"a": T0 + 60, "b": T0}


def _claim_jobs(app: Conveyor, keys: list[str]) -> dict[str, int]:
    with app.driver.begin() as c:
        won = app.driver.schedule_run_claim_slots(c, [_claim(k, T0) for k in keys], _enqueuer(app, c, []))
    return {r["schedule_key"]: j for r, j in won if j is not None}


def test_a_key_is_busy_while_its_queued_run_s_job_waits_or_runs(app: Conveyor) -> None:
    d = app.driver
    jobs = _claim_jobs(app, ["done", "running", "waiting"])  # enqueued in this order: fetched first-in first
    conn = d.connect()
    try:
        assert {j.id for j in d.fetch_available(conn, "default", 2, W, T0, 60)} == {jobs["done"], jobs["running"]}
        d.complete_jobs(conn, [(jobs["done"], None)], W, T0)
    finally:
        conn.close()
    with d.begin() as c:
        assert d.schedule_run_busy_keys(c, ["done", "running", "waiting", "never-ran"]) == {"running", "waiting"}


def test_settle_copies_each_finished_job_s_outcome_into_its_run(app: Conveyor) -> None:
    d = app.driver
    jobs = _claim_jobs(app, ["ok", "failed", "cancelled", "deleted", "pending"])
    conn = d.connect()
    try:
        assert {j.id for j in d.fetch_available(conn, "default", 2, W, T0, 60)} == {jobs["ok"], jobs["failed"]}
        d.complete_jobs(conn, [(jobs["ok"], None)], W, T0 + 5)
        d.fail_jobs(conn, [Failure(jobs["failed"], 1, "ValueError: boom", None, None)], W, T0 + 5)
    finally:
        conn.close()
    assert app.cancel(jobs["cancelled"]) == "cancelled"
    assert d.delete_jobs(["available"], ids=[jobs["deleted"]]) == 1  # as if pruned before the outcome was read
    with d.begin() as c:
        d.schedule_run_settle(c)
    got = {r["schedule_key"]: (r["status"], r["reason"]) for r in _runs(app)}
    assert got == {
        "ok": ("completed", None),
        "failed": ("error", "ValueError: boom"),
        "cancelled": ("error", "job cancelled"),
        "deleted": ("unknown", "its job was deleted before the outcome was recorded"),
        "pending": ("queued", None),
    }
    ok = next(r for r in _runs(app) if r["schedule_key"] == "ok")
    assert (ok["started_at"], ok["finished_at"]) == (T0, T0 + 5)
    assert app.get_job(jobs["pending"]).state == JobState.AVAILABLE
