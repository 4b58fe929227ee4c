"""The schedule catalog on every database: claiming slots, overlap, downtime, overrides, bad input."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from conveyor import Conveyor
from conveyor.engine import clock
from conveyor.scheduler import (
    InvalidCronError,
    InvalidParamsError,
    OrphanedScheduleError,
    ScheduleEnqueueError,
    UnknownScheduleError,
    UnknownTimezoneError,
    UnsupportedScheduleError,
)
from conveyor.scheduler.schema import runs, schedules
from conveyor.store import schema
from conveyor.store.base import Failure
from tests.scheduler.cliapp import declare

T0 = datetime(2025, 6, 2, 10, 0, tzinfo=UTC).timestamp()  # a Monday, 12:00 in Prague


@pytest.fixture
def sched_app(app: Conveyor) -> Iterator[Conveyor]:
    declare(app)
    clock.set_clock(lambda: T0 - 60)
    app.schedules.tick()  # first sync, before any slot
    yield app


def jobs_of(app: Conveyor) -> list[dict[str, Any]]:
    with app.driver.engine.connect() as c:
        return [dict(r) for r in c.execute(select(schema.jobs).order_by(schema.jobs.c.id)).mappings()]


def runs_of(app: Conveyor, key: str = "orders.fetch_new") -> list[dict[str, Any]]:
    with app.driver.engine.connect() as c:
        q = select(runs).where(runs.c.schedule_key == key).order_by(runs.c.id)
        return [dict(r) for r in c.execute(q).mappings()]


def snapshot(app: Conveyor) -> tuple[Any, ...]:
    with app.driver.engine.connect() as c:
        return (
            sorted(tuple(r) for r in c.execute(select(schedules))),
            sorted(tuple(r) for r in c.execute(select(runs))),
            c.execute(select(func.count()).select_from(schema.jobs)).scalar(),
        )


def finish_jobs(app: Conveyor, ok: bool, queue: str = "snapshots") -> None:
    conn = app.driver.connect()
    try:
        fetched = app.driver.fetch_available(conn, queue, 100, "w1", clock.now(), 60)
        if ok:
            app.driver.complete_jobs(conn, [(j.id, None) for j in fetched], "w1", clock.now() + 2)
        else:
            app.driver.fail_jobs(
                conn,
                [Failure(j.id, j.attempt, "RuntimeError: shop down", None, None) for j in fetched],
                "w1",
                clock.now(),
            )
    finally:
        conn.close()


def at(t: float) -> None:
    clock.set_clock(lambda: t)


# ---------------------------------------------------------------------- claiming
def test_due_slot_enqueues_one_job_with_the_declared_params(sched_app: Conveyor) -> None:
    at(T0 + 3)
    report = sched_app.schedules.tick()
    assert [(f.key, f.slot_at) for f in report.queued] == [("orders.fetch_new", T0)]
    (job,) = jobs_of(sched_app)
    assert job["task"] == "fetch_new_orders" and job["queue"] == "snapshots"
    assert '"chunk":250' in job["kwargs"]
    assert runs_of(sched_app)[0]["job_id"] == job["id"]


def test_slot_fires_once_however_often_it_is_ticked(sched_app: Conveyor) -> None:
    for dt in (1, 2, 30, 59):
        at(T0 + dt)
        sched_app.schedules.tick()
        sched_app.schedules.tick(T0 + dt)  # --now re-evaluates every schedule
    assert len(jobs_of(sched_app)) == 1


def test_concurrent_schedulers_claim_each_slot_exactly_once(sched_app: Conveyor, db_url: str) -> None:
    apps = [Conveyor(db_url) for _ in range(4)]
    for a in apps:
        declare(a)
    slots = [T0 + i * 300 for i in range(5)]
    barrier = threading.Barrier(len(apps))
    errors: list[BaseException] = []

    def run(a: Conveyor) -> None:
        try:
            for s in slots:
                barrier.wait()
                a.schedules.tick(s + 1)
        except BaseException as exc:
            errors.append(exc)

    finish = threading.Thread  # keep line short
    threads = [finish(target=run, args=(a,)) for a in apps]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a in apps:
        a.close()
    assert not errors
    claimed = [(r["slot_at"], r["status"]) for r in runs_of(sched_app)]
    assert sorted(s for s, _ in claimed) == slots  # one row per slot, never two
    queued = [r for r in runs_of(sched_app) if r["status"] == "queued"]
    assert len(jobs_of(sched_app)) == len(queued) == 1  # the rest were skipped: overlap=False


# ---------------------------------------------------------------------- overlap
def test_slot_is_skipped_while_the_previous_job_is_still_waiting(sched_app: Conveyor) -> None:
    at(T0 + 1)
    sched_app.schedules.tick()
    at(T0 + 301)
    report = sched_app.schedules.tick()
    assert [(f.status, f.reason) for f in report.fired] == [("skipped", "overlapping")]
    assert len(jobs_of(sched_app)) == 1


def test_slot_is_skipped_while_the_previous_job_is_executing(sched_app: Conveyor) -> None:
    at(T0 + 1)
    sched_app.schedules.tick()
    conn = sched_app.driver.connect()
    sched_app.driver.fetch_available(conn, "snapshots", 1, "w1", clock.now(), 600)
    conn.close()
    at(T0 + 301)
    assert sched_app.schedules.tick().skipped
    assert sched_app.schedules.history("orders.fetch_new")[0].status == "skipped"


def test_next_slot_runs_once_the_previous_job_finished(sched_app: Conveyor) -> None:
    at(T0 + 1)
    sched_app.schedules.tick()
    finish_jobs(sched_app, ok=True)
    at(T0 + 301)
    assert len(sched_app.schedules.tick().queued) == 1


def test_overlapping_runs_are_allowed_by_default(app: Conveyor) -> None:
    @app.task
    def ping() -> None: ...

    app.schedule("ping", task=ping, cron="* * * * *")
    at(T0 - 30)
    app.schedules.tick()
    at(T0 + 1)
    app.schedules.tick()
    at(T0 + 61)
    assert len(app.schedules.tick().queued) == 1
    assert len(jobs_of(app)) == 2


# ---------------------------------------------------------------------- downtime
def test_after_downtime_only_the_latest_missed_slot_runs_once(sched_app: Conveyor) -> None:
    finish_jobs(sched_app, ok=True)
    at(T0 + 3 * 3600 + 7)  # down for three hours: 36 slots missed
    report = sched_app.schedules.tick()
    assert [(f.slot_at, f.kind) for f in report.queued] == [(T0 + 3 * 3600, "cron")]
    at(T0 + 3 * 3600 + 120)
    assert not sched_app.schedules.tick().fired


def test_missed_slot_outside_the_catch_up_window_does_not_run(app: Conveyor) -> None:
    @app.task
    def report() -> None: ...

    app.schedule("daily.report", task=report, cron="0 2 * * *", catch_up=600)
    at(T0 - 86400)
    app.schedules.tick()
    at(T0)  # 02:00 UTC slot missed by 8 hours, window is 10 minutes
    assert [f for f in app.schedules.tick().fired if f.key == "daily.report"] == []
    assert [j for j in jobs_of(app) if j["task"] == "report"] == []


def test_missed_slot_inside_the_catch_up_window_runs_as_catch_up(app: Conveyor) -> None:
    @app.task
    def report() -> None: ...

    app.schedule("daily.report", task=report, cron="0 2 * * *")  # default window: one interval (a day)
    at(T0 - 86400)
    app.schedules.tick()
    at(T0)
    report_ = app.schedules.tick()
    assert ("daily.report", "catch_up") in [(f.key, f.kind) for f in report_.queued]


def test_a_new_schedule_does_not_fire_for_slots_before_it_existed(app: Conveyor) -> None:
    @app.task
    def report() -> None: ...

    app.schedule("daily.report", task=report, cron="0 2 * * *")
    at(T0)
    assert [f for f in app.schedules.tick().fired if f.key == "daily.report"] == []


# ---------------------------------------------------------------------- status follows the job
def test_run_status_follows_its_job_to_completion(sched_app: Conveyor) -> None:
    at(T0 + 1)
    sched_app.schedules.tick()
    assert sched_app.schedules.history("orders.fetch_new")[0].status == "queued"
    conn = sched_app.driver.connect()
    (job,) = sched_app.driver.fetch_available(conn, "snapshots", 1, "w1", clock.now(), 60)
    assert sched_app.schedules.history("orders.fetch_new")[0].status == "running"
    sched_app.driver.complete_jobs(conn, [(job.id, None)], "w1", clock.now() + 4)
    conn.close()
    run = sched_app.schedules.history("orders.fetch_new")[0]
    assert (run.status, run.duration) == ("completed", 4.0)
    at(T0 + 100)
    sched_app.schedules.tick()  # settles the outcome into the run record
    sched_app.driver.delete_jobs(["completed"])
    assert sched_app.schedules.history("orders.fetch_new")[0].status == "completed"


def test_run_status_follows_its_job_to_error(sched_app: Conveyor) -> None:
    at(T0 + 1)
    sched_app.schedules.tick()
    finish_jobs(sched_app, ok=False)
    view = {v.key: v for v in sched_app.schedules.views()}["orders.fetch_new"]
    assert view.status == "error"
    at(T0 + 100)
    sched_app.schedules.tick()
    assert sched_app.schedules.history("orders.fetch_new")[0].reason == "RuntimeError: shop down"


def test_entry_without_task_is_unsupported_and_never_enqueued(sched_app: Conveyor) -> None:
    at(T0 + 3600)
    sched_app.schedules.tick(T0 + 3600)
    assert runs_of(sched_app, "orders.refresh_statuses") == []
    view = {v.key: v for v in sched_app.schedules.views()}["orders.refresh_statuses"]
    assert view.status == "unsupported"
    with pytest.raises(UnsupportedScheduleError):
        sched_app.schedules.trigger("orders.refresh_statuses")


# ---------------------------------------------------------------------- catalog edits
def test_operator_override_changes_the_cron_from_now_on(sched_app: Conveyor) -> None:
    at(T0 + 30)
    view = sched_app.schedules.set("orders.fetch_new", cron="0 * * * *", params={"chunk": "50"})
    assert view.overridden == {"cron", "params"} and view.params["chunk"] == 50
    at(T0 + 301)
    assert not sched_app.schedules.tick().fired  # 12:05 is no longer a slot
    at(T0 + 3601)
    assert len(sched_app.schedules.tick().queued) == 1
    assert '"chunk":50' in jobs_of(sched_app)[0]["kwargs"]


def test_disabled_schedule_does_not_fire(sched_app: Conveyor) -> None:
    sched_app.schedules.set("orders.fetch_new", enabled=False)
    at(T0 + 1)
    assert not sched_app.schedules.tick().fired
    sched_app.schedules.set("orders.fetch_new", enabled=True)
    at(T0 + 301)
    assert len(sched_app.schedules.tick().queued) == 1


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"cron": "*/5 * * *"}, InvalidCronError),
        ({"timezone": "Europe/Prag"}, UnknownTimezoneError),
        ({"params": {"chunk": "many"}}, InvalidParamsError),
        ({"params": {"no_such_param": 1}}, InvalidParamsError),
    ],
)
def test_bad_override_is_refused_and_changes_nothing(
    sched_app: Conveyor, change: dict[str, Any], error: type[Exception]
) -> None:
    before = snapshot(sched_app)
    with pytest.raises(error):
        sched_app.schedules.set("orders.fetch_new", **change)
    assert snapshot(sched_app) == before


def test_unknown_key_is_refused_and_changes_nothing(sched_app: Conveyor) -> None:
    before = snapshot(sched_app)
    with pytest.raises(UnknownScheduleError, match=r"unknown schedule 'orders\.nope'"):
        sched_app.schedules.set("orders.nope", enabled=False)
    with pytest.raises(UnknownScheduleError):
        sched_app.schedules.trigger("orders.nope")
    with pytest.raises(UnknownScheduleError):
        sched_app.schedules.history("orders.nope")
    assert snapshot(sched_app) == before


def test_task_raising_at_enqueue_is_reported_and_writes_nothing(app: Conveyor) -> None:
    app.schedule("export", task="exports.not_registered_here", cron="* * * * *")
    at(T0 - 30)
    app.schedules.tick()
    before = snapshot(app)
    at(T0 + 1)
    report = app.schedules.tick()
    assert report.errors and "could not enqueue" in report.errors[0][1]
    with pytest.raises(ScheduleEnqueueError, match=r"unknown task 'exports\.not_registered_here'"):
        app.schedules.trigger("export")
    after = snapshot(app)
    assert after[1:] == before[1:]  # no run, no job


def test_declared_params_are_checked_when_declaring(app: Conveyor) -> None:
    @app.task
    def export(chunk: int, **options: Any) -> None: ...

    with pytest.raises(InvalidParamsError, match="chunk"):
        app.schedule("export", task=export, cron="* * * * *", params={"chunk": "x"})
    with pytest.raises(InvalidParamsError, match="JSON"):
        app.schedule("export", task=export, cron="* * * * *", params={"chunk": 1, "extra": object()})
    with pytest.raises(InvalidCronError):
        app.schedule("export", task=export, cron="every day", params={"chunk": 1})


def test_entry_removed_from_code_is_orphaned_and_keeps_its_history(sched_app: Conveyor, db_url: str) -> None:
    at(T0 + 1)
    sched_app.schedules.tick()
    later = Conveyor(db_url)
    later.schedule("orders.refresh_statuses", cron="*/15 * * * *")  # orders.fetch_new was removed
    at(T0 + 301)
    later.schedules.tick()
    views = {v.key: v for v in later.schedules.views()}
    assert views["orders.fetch_new"].orphaned and views["orders.fetch_new"].status == "orphaned"
    assert len(later.schedules.history("orders.fetch_new")) == 1
    with pytest.raises(OrphanedScheduleError):
        later.schedules.set("orders.fetch_new", enabled=False)
    later.close()


def test_trigger_runs_now_outside_the_cron(sched_app: Conveyor) -> None:
    at(T0 + 100)
    run = sched_app.schedules.trigger("orders.fetch_new")
    assert run.kind == "trigger" and run.job_id == jobs_of(sched_app)[0]["id"]


def test_dry_run_reports_what_would_fire_and_writes_nothing(sched_app: Conveyor) -> None:
    before = snapshot(sched_app)
    report = sched_app.schedules.tick(T0 + 1, dry_run=True)
    assert [f.key for f in report.queued] == ["orders.fetch_new"]
    assert snapshot(sched_app) == before


def test_tick_as_of_a_past_instant_backfills_that_slot(sched_app: Conveyor) -> None:
    finish_jobs(sched_app, ok=True)
    at(T0 + 7200 + 1)
    sched_app.schedules.tick()
    finish_jobs(sched_app, ok=True)
    report = sched_app.schedules.tick(T0 + 3600 + 1)  # conveyor schedule run --now <an hour ago>
    assert [f.slot_at for f in report.queued] == [T0 + 3600]


def test_builtin_prune_entry_is_declared(app: Conveyor) -> None:
    entry = app.schedules.get("conveyor.prune")
    assert entry.task_name == "conveyor.prune" and not entry.overlap


def test_a_schedule_source_declares_entries_the_running_scheduler_picks_up_without_a_restart(
    sched_app: Conveyor,
) -> None:
    from conveyor.scheduler import run_scheduler

    @sched_app.task(queue="feeds")
    def import_feed(feed: int) -> None: ...

    feeds_in_db: list[int] = []  # stands for a pack's own table, filled while the scheduler runs

    def declare_feeds(catalog: Any) -> None:
        for feed in feeds_in_db:
            if f"feeds.import.{feed}" not in catalog.entries:
                catalog.add(f"feeds.import.{feed}", task=import_feed, cron="* * * * *", params={"feed": feed})

    sched_app.schedules.add_source(declare_feeds, every=0.05)
    now = [T0 + 30]
    clock.set_clock(lambda: now[0])
    stop = threading.Event()
    loop = threading.Thread(target=run_scheduler, args=(sched_app.schedules, stop), kwargs={"poll": 0.02})
    loop.start()
    try:
        feeds_in_db.append(7)  # "a feed is added" after the scheduler started
        for _ in range(200):
            if "feeds.import.7" in sched_app.schedules.entries:
                break
            now[0] += 0.1  # time passes (within the minute): the source is due again
            stop.wait(0.02)
        assert "feeds.import.7" in sched_app.schedules.entries
        now[0] = T0 + 61  # the next minute's slot
        for _ in range(200):
            if runs_of(sched_app, "feeds.import.7"):
                break
            stop.wait(0.02)
    finally:
        stop.set()
        loop.join()
    assert [r["status"] for r in runs_of(sched_app, "feeds.import.7")] == ["queued"]
    assert [j["kwargs"] for j in jobs_of(sched_app) if j["task"].endswith("import_feed")] == ['{"feed":7}']


def test_a_schedule_source_that_fails_is_logged_and_tried_again(sched_app: Conveyor) -> None:
    calls: list[Any] = []

    def broken(catalog: Any) -> None:
        calls.append(catalog)
        raise RuntimeError("the feeds table is not there yet")

    sched_app.schedules.add_source(broken, every=10)
    assert sched_app.schedules.refresh(T0) is False
    assert sched_app.schedules.refresh(T0 + 5) is False  # not due again yet
    assert sched_app.schedules.refresh(T0 + 10) is False
    assert len(calls) == 2  # at T0 and T0 + 10
    with pytest.raises(Exception, match="interval must be > 0"):
        sched_app.schedules.add_source(broken, every=0)
