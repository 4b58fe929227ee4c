"""The driver suite: the same cases against every database (River's driver tests, per operation).

Every state change these cases make is checked against the state table (``transitions_checked``)."""

from __future__ import annotations

import threading

import pytest

from conveyor import Conveyor
from conveyor.engine import clock
from conveyor.engine.states import JobState
from conveyor.store.base import Failure

W = "host:1:abc/1"

pytestmark = pytest.mark.usefixtures("transitions_checked")


def _states(app: Conveyor, ids: list[int]) -> list[str]:
    return [app.get_job(i).state.value for i in ids]


def test_bulk_insert_returns_ids_in_order(app: Conveyor) -> None:
    ids = app.enqueue_many([{"task": "t", "args": [i]} for i in range(50)])
    assert len(set(ids)) == 50
    assert [app.get_job(i).args for i in ids[:3]] == [[0], [1], [2]]


def test_fetch_takes_highest_priority_first_then_fifo(app: Conveyor) -> None:
    low = app.enqueue("t", priority=0)
    high1 = app.enqueue("t", priority=5)
    high2 = app.enqueue("t", priority=5)
    conn = app.driver.connect()
    jobs = app.driver.fetch_available(conn, "default", 10, W, clock.now(), 60)
    assert [j.id for j in jobs] == [high1, high2, low]
    assert all(j.attempt == 1 for j in jobs)
    assert _states(app, [low]) == ["executing"]
    assert app.get_job(low).worker_id == W


def test_fetch_respects_the_limit_and_the_queue(app: Conveyor) -> None:
    app.enqueue_many([{"task": "t"} for _ in range(5)] + [{"task": "t", "queue": "other"}])
    conn = app.driver.connect()
    assert len(app.driver.fetch_available(conn, "default", 3, W, clock.now(), 60)) == 3
    assert len(app.driver.fetch_available(conn, "default", 10, W, clock.now(), 60)) == 2
    assert len(app.driver.fetch_available(conn, "other", 10, W, clock.now(), 60)) == 1


def test_concurrent_fetchers_never_get_the_same_job(app: Conveyor) -> None:
    app.enqueue_many([{"task": "t"} for _ in range(400)])
    got: list[list[int]] = []

    def fetch(n: int) -> None:
        conn = app.driver.connect()
        mine: list[int] = []
        while batch := app.driver.fetch_available(conn, "default", 7, f"w{n}", clock.now(), 60):
            mine.extend(j.id for j in batch)
        got.append(mine)
        conn.close()

    threads = [threading.Thread(target=fetch, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    flat = [i for g in got for i in g]
    assert len(flat) == 400 and len(set(flat)) == 400


def test_scheduled_jobs_are_not_fetched_until_staged(app: Conveyor) -> None:
    job = app.enqueue("t", delay=30)
    conn = app.driver.connect()
    assert app.get_job(job).state == JobState.SCHEDULED
    assert app.driver.fetch_available(conn, "default", 10, W, clock.now(), 60) == []
    app.driver.stage_due(conn, clock.now() + 31)
    assert [j.id for j in app.driver.fetch_available(conn, "default", 10, W, clock.now(), 60)] == [job]


def test_completion_is_ignored_when_the_lease_was_lost(app: Conveyor) -> None:
    a, b = app.enqueue("t"), app.enqueue("t")
    conn = app.driver.connect()
    app.driver.fetch_available(conn, "default", 10, W, clock.now(), 60)
    app.driver.complete_jobs(conn, [(a, None), (b, '"ok"')], "someone-else", clock.now())
    assert _states(app, [a, b]) == ["executing", "executing"]
    app.driver.complete_jobs(conn, [(a, None), (b, '"ok"')], W, clock.now())
    assert _states(app, [a, b]) == ["completed", "completed"]
    assert app.get_job(b).result == "ok"


def test_failure_keeps_every_error_and_discards_after_the_last_attempt(app: Conveyor) -> None:
    job = app.enqueue("t", max_attempts=2)
    conn = app.driver.connect()
    now = clock.now()
    app.driver.fetch_available(conn, "default", 1, W, now, 60)
    app.driver.fail_jobs(conn, [Failure(job, 1, "ValueError: one", "tb1", retry_at=now)], W, now)
    assert app.get_job(job).state == JobState.RETRYABLE
    app.driver.stage_due(conn, now + 1)
    app.driver.fetch_available(conn, "default", 1, W, now + 1, 60)
    app.driver.fail_jobs(conn, [Failure(job, 2, "ValueError: two", "tb2", retry_at=None)], W, now + 1)
    rec = app.get_job(job)
    assert rec.state == JobState.DISCARDED and rec.attempt == 2
    assert [(e.attempt, e.error, e.traceback) for e in rec.errors] == [
        (1, "ValueError: one", "tb1"),
        (2, "ValueError: two", "tb2"),
    ]


def test_release_gives_the_attempt_back(app: Conveyor) -> None:
    job = app.enqueue("t")
    conn = app.driver.connect()
    app.driver.fetch_available(conn, "default", 1, W, clock.now(), 60)
    assert app.driver.release_jobs(conn, [job], W) == 1
    rec = app.get_job(job)
    assert (rec.state, rec.attempt, rec.worker_id) == (JobState.AVAILABLE, 0, None)


def test_expired_lease_of_a_started_job_is_rescued_as_worker_lost(app: Conveyor) -> None:
    once, last = app.enqueue("t", max_attempts=3), app.enqueue("t", max_attempts=1)
    conn = app.driver.connect()
    now = clock.now()
    app.driver.fetch_available(conn, "default", 10, W, now, lease=5)
    app.driver.mark_started(conn, [(once, now), (last, now)], W)
    assert app.driver.rescue_expired(conn, now + 1) == []  # still leased
    assert sorted(app.driver.rescue_expired(conn, now + 6)) == sorted([once, last])
    a, b = app.get_job(once), app.get_job(last)
    assert (a.state, a.attempt, a.crashes) == (JobState.AVAILABLE, 1, 1) and "worker lost" in a.errors[0].error
    assert (b.state, b.attempt) == (JobState.DISCARDED, 1) and "worker lost" in b.errors[0].error


def test_expired_lease_of_a_job_that_never_started_gives_it_back_uncharged(app: Conveyor) -> None:
    job = app.enqueue("t", max_attempts=1)
    conn = app.driver.connect()
    now = clock.now()
    app.driver.fetch_available(conn, "default", 10, W, now, lease=5)
    assert app.driver.rescue_expired(conn, now + 6) == [job]
    rec = app.get_job(job)
    assert (rec.state, rec.attempt, rec.crashes, rec.errors, rec.worker_id) == (JobState.AVAILABLE, 0, 0, [], None)


def test_dead_worker_charges_the_jobs_it_was_running_and_releases_the_buffered_ones(app: Conveyor) -> None:
    running, buffered, elsewhere = (app.enqueue("t") for _ in range(3))
    conn = app.driver.connect()
    now = clock.now()
    app.driver.fetch_available(conn, "default", 2, W, now, lease=60)
    app.driver.fetch_available(conn, "default", 1, "other", now, lease=60)
    cause = "worker lost: process w died (signal SIGKILL) while running this job"
    assert sorted(app.driver.rescue_worker(conn, W, {running}, now, cause)) == sorted([running, buffered])
    r, b, e = app.get_job(running), app.get_job(buffered), app.get_job(elsewhere)
    assert (r.state, r.attempt, r.crashes, [x.error for x in r.errors]) == (JobState.AVAILABLE, 1, 1, [cause])
    assert (b.state, b.attempt, b.crashes, b.errors) == (JobState.AVAILABLE, 0, 0, [])
    assert (e.state, e.worker_id) == (JobState.EXECUTING, "other")  # another worker's job is left alone


def test_job_that_kills_its_worker_twice_is_quarantined_with_attempts_left(app: Conveyor) -> None:
    job = app.enqueue("t", max_attempts=10)
    conn = app.driver.connect()
    for _ in range(2):
        app.driver.fetch_available(conn, "default", 1, W, clock.now(), lease=60)
        app.driver.rescue_worker(conn, W, {job}, clock.now(), "worker lost: died", crash_limit=2)
    rec = app.get_job(job)
    assert (rec.state, rec.attempt, rec.crashes) == (JobState.DISCARDED, 2, 2)
    assert rec.errors[-1].error.startswith("killed its worker 2 times")
    assert rec.errors[0].error == "worker lost: died"


def test_heartbeat_extends_leases_of_the_holder_only(app: Conveyor) -> None:
    job = app.enqueue("t")
    conn = app.driver.connect()
    now = clock.now()
    app.driver.fetch_available(conn, "default", 1, W, now, lease=5)
    assert app.driver.extend_leases(conn, "other", now + 100) == []
    assert app.driver.extend_leases(conn, W, now + 100) == [job]
    assert app.driver.rescue_expired(conn, now + 50) == []
    assert app.get_job(job).lease_expires_at == now + 100


def test_mark_started_writes_only_jobs_the_worker_holds(app: Conveyor) -> None:
    mine, theirs = app.enqueue("t"), app.enqueue("t")
    conn = app.driver.connect()
    now = clock.now()
    app.driver.fetch_available(conn, "default", 1, W, now, lease=60)
    app.driver.fetch_available(conn, "default", 1, "other", now, lease=60)
    app.driver.mark_started(conn, [(mine, now + 1), (theirs, now + 1)], W)
    assert app.get_job(mine).started_at == now + 1
    assert app.get_job(theirs).started_at is None


def test_retry_of_discarded_job_gives_one_more_attempt(app: Conveyor) -> None:
    job = app.enqueue("t", max_attempts=1)
    conn = app.driver.connect()
    app.driver.fetch_available(conn, "default", 1, W, clock.now(), 60)
    app.driver.fail_jobs(conn, [Failure(job, 1, "E: x", None, None)], W, clock.now())
    app.retry([job])
    rec = app.get_job(job)
    assert (rec.state, rec.attempt, rec.max_attempts) == (JobState.AVAILABLE, 1, 2)
    assert len(rec.errors) == 1  # history kept


def test_pause_resume_and_stats(app: Conveyor) -> None:
    app.enqueue_many([{"task": "t"}, {"task": "t"}, {"task": "t", "queue": "b"}])
    app.driver.set_paused("b", True, clock.now())
    stats = {s.queue: s for s in app.driver.queue_stats(clock.now())}
    assert stats["default"].counts == {"available": 2} and not stats["default"].paused
    assert stats["b"].paused and stats["b"].waiting == 1
    assert app.driver.paused_queues() == {"b"}
    app.driver.set_paused("b", False, clock.now())
    assert app.driver.paused_queues() == set()


def test_clear_deletes_waiting_jobs_only(app: Conveyor) -> None:
    running = app.enqueue("t")
    conn = app.driver.connect()
    app.driver.fetch_available(conn, "default", 1, W, clock.now(), 60)
    app.enqueue_many([{"task": "t"}, {"task": "t", "delay": 60}])
    assert app.driver.clear_queue("default") == 2
    assert _states(app, [running]) == ["executing"]


def test_bulk_insert_keeps_backslashes_tabs_and_newlines_intact(app: Conveyor) -> None:
    """Bulk inserts write COPY text on PostgreSQL: every special character must survive escaping."""
    nasty = ["C:\\feeds\\stock.csv", "tab\there", "line\nbreak", "cr\rhere", "\\N", "uni ✓ žluť"]
    ids = app.enqueue_many(
        [{"task": "t\tx", "args": nasty, "kwargs": {"k\\": "\\\\"}, "queue": "q\\1"} for _ in range(3)]
    )
    rec = app.get_job(ids[1])
    assert (rec.args, rec.kwargs, rec.task, rec.queue) == (nasty, {"k\\": "\\\\"}, "t\tx", "q\\1")


def test_bulk_insert_refuses_non_integer_priority(app: Conveyor) -> None:
    import pytest

    from conveyor import SerializationError

    with pytest.raises(SerializationError, match="priority must be an integer"):
        app.enqueue_many([{"task": "t", "priority": "5"}])


def test_prune_completed_deletes_only_old_completed_jobs(app: Conveyor) -> None:
    old, recent, failed = app.enqueue("t"), app.enqueue("t"), app.enqueue("t")
    conn = app.driver.connect()
    now = clock.now()
    app.driver.fetch_available(conn, "default", 10, W, now, 60)
    app.driver.complete_jobs(conn, [(old, None)], W, now - 7200)
    app.driver.complete_jobs(conn, [(recent, None)], W, now)
    app.driver.fail_jobs(conn, [Failure(failed, 1, "E: x", None, None)], W, now - 7200)
    assert app.driver.prune_completed(now - 3600) == 1
    assert app.driver.prune_completed(now - 3600) == 0
    import pytest

    from conveyor import JobNotFoundError

    with pytest.raises(JobNotFoundError):
        app.get_job(old)
    assert app.get_job(recent).state == JobState.COMPLETED
    assert app.get_job(failed).state == JobState.DISCARDED
