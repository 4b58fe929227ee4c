"""The admin service on ``Conveyor``: one rule per verb, shared by the CLI, the web and packs."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from conveyor import Conveyor, InvalidStateError, JobNotFoundError, QueueStats, UnknownQueueError
from conveyor.engine import clock
from conveyor.engine.states import JobState
from conveyor.store.base import Failure


def _fail(app: Conveyor, job_id: int, error: str = "KeyError: 'sku'") -> None:
    """Run ``job_id`` (alone in its queue's head) and fail it for good with ``error``."""
    queue = app.get_job(job_id).queue
    conn = app.driver.connect()
    try:
        fetched = app.driver.fetch_available(conn, queue, 1, "w/1", clock.now(), 60)
        assert [j.id for j in fetched] == [job_id]
        app.driver.fail_jobs(conn, [Failure(job_id, 1, error, None, None)], "w/1", clock.now())
    finally:
        conn.close()


def _complete(app: Conveyor, job_id: int) -> None:
    queue = app.get_job(job_id).queue
    conn = app.driver.connect()
    try:
        app.driver.fetch_available(conn, queue, 1, "w/1", clock.now(), 60)
        app.driver.complete_jobs(conn, [(job_id, None)], "w/1", clock.now())
    finally:
        conn.close()


def _stats(app: Conveyor) -> dict[str, QueueStats]:
    return {s.queue: s for s in app.queue_stats()}


# ------------------------------------------------------------------ queues
def test_pausing_an_unknown_queue_is_refused_and_creates_no_queue(app: Conveyor) -> None:
    app.enqueue("t", queue="mail")
    with pytest.raises(UnknownQueueError, match=r"unknown queue 'mial' \(known: mail\)"):
        app.pause_queue("mial")
    with pytest.raises(UnknownQueueError):
        app.resume_queue("mial")
    with pytest.raises(UnknownQueueError):
        app.clear_queue("mial")
    assert set(_stats(app)) == {"mail"}


def test_a_declared_queue_without_jobs_can_be_paused_and_resumed(app: Conveyor) -> None:
    app.queue("snapshots", global_limit=2)
    app.pause_queue("snapshots")
    assert _stats(app)["snapshots"].paused
    app.resume_queue("snapshots")
    assert not _stats(app)["snapshots"].paused


def test_a_task_queue_is_known_before_it_has_jobs(app: Conveyor) -> None:
    @app.task(queue="mail")
    def send_email() -> None: ...

    app.pause_queue("mail")
    assert _stats(app)["mail"].paused


def test_resuming_a_queue_wakes_idle_workers(pg_url: str) -> None:
    app = Conveyor(pg_url)
    app.migrate()
    app.enqueue("t")
    app.pause_queue("default")
    wake, stop = threading.Event(), threading.Event()
    watcher = threading.Thread(target=app.driver.watch, args=(wake, stop), daemon=True)
    watcher.start()
    try:
        # the watcher LISTENs asynchronously: resume until one notification arrives (at most ~10 s)
        for _ in range(20):
            app.resume_queue("default")
            if wake.wait(0.5):
                break
        assert wake.is_set()
    finally:
        stop.set()
        watcher.join(5)
        app.close()


def test_clear_queue_deletes_waiting_jobs_and_leaves_finished_ones(app: Conveyor) -> None:
    done = app.enqueue("t")
    _complete(app, done)
    app.enqueue("t")
    app.enqueue("t", delay=60)
    app.enqueue("t", queue="other")
    assert app.clear_queue("default") == 2
    assert app.get_job(done).state == JobState.COMPLETED
    assert _stats(app)["other"].waiting == 1


def test_queue_stats_count_completed_and_discarded_as_processed_not_cancelled(app: Conveyor) -> None:
    ok, bad, cancelled = app.enqueue("t"), app.enqueue("t"), app.enqueue("t", delay=60)
    _complete(app, ok)
    _fail(app, bad)
    app.cancel(cancelled)
    s = _stats(app)["default"]
    assert (s.processed_last_minute, s.processed_last_hour) == (2, 2)
    assert (s.failed_last_minute, s.failed_last_hour) == (1, 1)
    assert s.counts == {"completed": 1, "discarded": 1, "cancelled": 1}


def test_queue_stats_list_declared_queues_with_their_limit(app: Conveyor) -> None:
    app.queue("snapshots", global_limit=2)
    s = _stats(app)["snapshots"]
    assert (s.counts, s.waiting, s.paused, s.global_limit) == ({}, 0, False, 2)


# ------------------------------------------------------------------ failed jobs
@pytest.fixture
def failures(app: Conveyor) -> Iterator[dict[str, int]]:
    """Four failed jobs: two KeyErrors of sync_stock on default, a TimeoutError, one on queue 'mail'."""
    ids = {
        "stock_key_1": app.enqueue("sync_stock"),
        "stock_key_2": app.enqueue("sync_stock"),
        "stock_timeout": app.enqueue("sync_stock"),
        "mail_key": app.enqueue("send_email", queue="mail"),
    }
    for name, job_id in ids.items():
        _fail(app, job_id, "TimeoutError: took 30s" if "timeout" in name else "KeyError: 'sku'")
    yield ids


def test_list_failed_filters_by_queue_task_and_error_class(app: Conveyor, failures: dict[str, int]) -> None:
    def listed(**filters: str) -> set[int]:
        return {j.id for j in app.list_failed(**filters)}

    assert listed() == set(failures.values())
    assert listed(queue="mail") == {failures["mail_key"]}
    assert listed(task="sync_stock", error_class="KeyError") == {failures["stock_key_1"], failures["stock_key_2"]}
    assert listed(error_class="TimeoutError") == {failures["stock_timeout"]}


def test_list_failed_pages_newest_first(app: Conveyor, failures: dict[str, int]) -> None:
    first = app.list_failed(limit=3)
    rest = app.list_failed(limit=3, before_id=first[-1].id)
    assert [j.id for j in first + rest] == sorted(failures.values(), reverse=True)
    assert first[0].errors[-1].error.startswith("KeyError")


def test_retry_failed_with_an_error_class_retries_only_those_jobs(app: Conveyor, failures: dict[str, int]) -> None:
    assert app.retry_failed(error_class="KeyError", queue="default") == 2
    states = {name: app.get_job(i).state for name, i in failures.items()}
    assert states == {
        "stock_key_1": JobState.AVAILABLE,
        "stock_key_2": JobState.AVAILABLE,
        "stock_timeout": JobState.DISCARDED,
        "mail_key": JobState.DISCARDED,
    }


def test_retry_failed_without_filters_retries_every_discarded_job(app: Conveyor, failures: dict[str, int]) -> None:
    cancelled = app.enqueue("t", delay=60)
    app.cancel(cancelled)
    assert app.retry_failed() == 4
    assert app.list_failed() == []
    assert app.get_job(cancelled).state == JobState.CANCELLED  # a cancelled job is retried only by id


def test_delete_jobs_deletes_discarded_and_cancelled_jobs(app: Conveyor, failures: dict[str, int]) -> None:
    cancelled = app.enqueue("t", delay=60)
    app.cancel(cancelled)
    assert app.delete_jobs([failures["mail_key"], cancelled]) == 2
    for job_id in (failures["mail_key"], cancelled):
        with pytest.raises(JobNotFoundError):
            app.get_job(job_id)


def test_delete_jobs_refuses_a_waiting_job_and_deletes_nothing(app: Conveyor, failures: dict[str, int]) -> None:
    waiting = app.enqueue("t")
    with pytest.raises(InvalidStateError, match=f"job {waiting} is available: only jobs that failed"):
        app.delete_jobs([failures["mail_key"], waiting])
    with pytest.raises(JobNotFoundError, match="job 999999 not found"):
        app.delete_jobs([failures["mail_key"], 999999])
    assert app.get_job(failures["mail_key"]).state == JobState.DISCARDED
    assert app.get_job(waiting).state == JobState.AVAILABLE


def test_prune_failed_deletes_only_jobs_older_than_the_age(app: Conveyor, failures: dict[str, int]) -> None:
    assert app.prune_failed(3600) == 0
    assert app.prune_failed(0) == 4
    assert app.list_failed() == []
