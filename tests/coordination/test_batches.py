"""Batches: exact counts, progress, and callbacks that run exactly once."""

from __future__ import annotations

import time

import pytest

from conveyor import Conveyor, RetryPolicy
from conveyor.coordination.batches import BatchNotFoundError, cancel_batch, list_batches, retry_failed
from conveyor.engine.states import JobState

pytestmark = pytest.mark.usefixtures("transitions_checked")

NO_WAIT = RetryPolicy(delay=0, jitter=0)


def drain(app: Conveyor, rounds: int = 1) -> None:
    for _ in range(rounds):
        app.work(["default", "callbacks"], processes=0, stop_when_empty=True, sleep=0.05, concurrency=4)


@pytest.fixture
def calls() -> dict[str, list[int]]:
    return {"complete": [], "failure": []}


def _callbacks(app: Conveyor, calls: dict[str, list[int]]) -> tuple[object, object]:
    @app.task(queue="callbacks")
    def on_done(batch_id: int) -> None:
        calls["complete"].append(batch_id)

    @app.task(queue="callbacks")
    def on_failed(batch_id: int) -> None:
        calls["failure"].append(batch_id)

    return on_done, on_failed


def test_on_complete_runs_once_when_every_job_completed(app: Conveyor, calls: dict[str, list[int]]) -> None:
    on_done, on_failed = _callbacks(app, calls)

    @app.task
    def sync_chunk(skus: list[str]) -> None: ...

    batch = app.batch([sync_chunk.job([f"S{i}"]) for i in range(20)], name="stock", on_complete=on_done,
                      on_failure=on_failed)  # fmt: skip
    assert (batch.total, batch.pending, batch.state) == (20, 20, "running")
    drain(app, rounds=2)
    b = app.get_batch(batch.id)
    assert (b.state, b.completed, b.failed, b.cancelled, b.pending, b.progress) == ("completed", 20, 0, 0, 0, 1.0)
    assert calls == {"complete": [batch.id], "failure": []}
    assert app.get_job(b.callback_job_id).state == JobState.COMPLETED  # type: ignore[arg-type]


def test_some_discarded_jobs_fire_on_failure_once_and_never_on_complete(
    app: Conveyor, calls: dict[str, list[int]]
) -> None:
    on_done, on_failed = _callbacks(app, calls)

    @app.task(max_attempts=2, retry=NO_WAIT)
    def import_chunk(n: int) -> None:
        if n % 5 == 0:
            raise ValueError(f"chunk {n} has a broken row")

    batch = app.batch([import_chunk.job(n) for n in range(1, 11)], name="import", on_complete=on_done,
                      on_failure=on_failed)  # fmt: skip
    drain(app, rounds=4)
    b = app.get_batch(batch.id)
    assert (b.state, b.completed, b.failed, b.pending) == ("failed", 8, 2, 0)
    assert calls == {"complete": [], "failure": [batch.id]}


def test_a_failing_callback_is_retried_like_any_job(app: Conveyor) -> None:
    attempts: list[int] = []

    @app.task(queue="callbacks", max_attempts=3, retry=NO_WAIT)
    def flaky_callback(batch_id: int) -> None:
        attempts.append(batch_id)
        if len(attempts) == 1:
            raise ConnectionError("mail server down")

    @app.task
    def noop(i: int) -> None: ...

    batch = app.batch([noop.job(i) for i in range(3)], name="b", on_complete=flaky_callback)
    drain(app, rounds=3)
    b = app.get_batch(batch.id)
    assert attempts == [batch.id, batch.id]
    cb = app.get_job(b.callback_job_id)  # type: ignore[arg-type]
    assert cb.state == JobState.COMPLETED and cb.attempt == 2


def test_dispatch_chunks_makes_one_job_per_chunk(app: Conveyor) -> None:
    seen: list[int] = []

    @app.task
    def update_stock(rows: list[int]) -> None:
        seen.extend(rows)

    batch = app.dispatch_chunks(update_stock, list(range(1000)), chunk=250, name="full stock sync")
    assert batch.total == 4 and batch.name == "full stock sync"
    drain(app)
    assert sorted(seen) == list(range(1000))
    assert app.get_batch(batch.id).state == "completed"


def test_retry_failed_reruns_the_discarded_jobs_and_the_batch_completes(
    app: Conveyor, calls: dict[str, list[int]]
) -> None:
    on_done, on_failed = _callbacks(app, calls)
    broken = {"on": True}

    @app.task(max_attempts=1)
    def chunk(n: int) -> None:
        if n == 2 and broken["on"]:
            raise ValueError("supplier feed missing")

    batch = app.batch([chunk.job(n) for n in range(4)], name="b", on_complete=on_done, on_failure=on_failed)
    drain(app, rounds=2)
    assert app.get_batch(batch.id).state == "failed" and calls["failure"] == [batch.id]
    broken["on"] = False
    assert retry_failed(app, batch.id) == 1
    assert app.get_batch(batch.id).state == "running"
    drain(app, rounds=2)
    b = app.get_batch(batch.id)
    assert (b.state, b.completed, b.failed) == ("completed", 4, 0)
    assert calls == {"complete": [batch.id], "failure": [batch.id]}


def test_cancel_batch_cancels_waiting_jobs_and_counts_them(app: Conveyor, calls: dict[str, list[int]]) -> None:
    on_done, on_failed = _callbacks(app, calls)

    @app.task
    def noop(i: int) -> None: ...

    batch = app.batch([noop.job(i) for i in range(5)], name="b", on_complete=on_done, on_failure=on_failed)
    assert cancel_batch(app, batch.id) == (5, 0)
    b = app.get_batch(batch.id)
    assert (b.state, b.cancelled, b.pending) == ("cancelled", 5, 0)
    drain(app)
    assert calls == {"complete": [], "failure": []}


def test_batch_with_a_bad_job_writes_nothing(app: Conveyor) -> None:
    from conveyor import SerializationError

    @app.task
    def noop(i: object) -> None: ...

    with pytest.raises(SerializationError):
        app.batch([noop.job(1), noop.job({1, 2})], name="bad")
    assert list_batches(app) == []


def test_unknown_batch_is_a_clear_error(app: Conveyor) -> None:
    with pytest.raises(BatchNotFoundError, match="batch 42 not found"):
        app.get_batch(42)


def test_empty_batch_is_refused(app: Conveyor) -> None:
    with pytest.raises(ValueError, match="has no jobs"):
        app.batch([], name="nothing")


def test_batch_progress_counts_as_jobs_finish(app: Conveyor) -> None:
    @app.task
    def noop(i: int) -> None:
        time.sleep(0.001)

    batch = app.batch([noop.job(i) for i in range(10)], name="b")
    app.work(["default"], processes=0, max_jobs=0, once=True, sleep=0.05)
    b = app.get_batch(batch.id)
    assert (b.completed, b.pending, b.progress) == (1, 9, 0.1)


def test_callback_job_is_built_with_the_callback_tasks_own_options(app: Conveyor) -> None:
    @app.task(queue="callbacks", priority=7, max_attempts=6, timeout=30)
    def report(batch_id: int) -> None: ...

    @app.task
    def part(n: int) -> None: ...

    batch = app.batch([part.job(1)], name="one", on_complete=report)
    drain(app, rounds=1)
    callback = app.get_job(app.get_batch(batch.id).callback_job_id)  # type: ignore[arg-type]
    assert (callback.task, callback.args, callback.queue) == ("report", [batch.id], "callbacks")
    assert (callback.priority, callback.max_attempts, callback.timeout) == (7, 6, 30)


def test_callback_of_a_task_this_process_does_not_know_gets_the_attempts_setting(db_url: str) -> None:
    app = Conveyor(db_url, max_attempts=4)
    app.migrate()

    @app.task
    def part(n: int) -> None: ...

    batch = app.batch([part.job(1)], name="one", on_complete="reporting.elsewhere")
    drain(app, rounds=1)
    callback = app.get_job(app.get_batch(batch.id).callback_job_id)  # type: ignore[arg-type]
    assert (callback.task, callback.args, callback.max_attempts, callback.priority) == (
        "reporting.elsewhere",
        [batch.id],
        4,
        0,
    )
    app.close()


def test_jobs_given_as_mappings_are_validated_like_enqueue_and_a_bad_one_writes_nothing(app: Conveyor) -> None:
    from conveyor import SerializationError

    @app.task
    def noop(i: int) -> None: ...

    with pytest.raises(SerializationError, match=r"unknown job option\(s\): colour"):
        app.batch([{"task": "noop", "args": [1]}, {"task": "noop", "args": [2], "colour": "red"}], name="bad")
    assert list_batches(app) == []
    batch = app.batch([{"task": "noop", "args": [1], "queue": "q2", "priority": 3}], name="ok")
    (job,) = app.driver.list_jobs([JobState.AVAILABLE.value], queue="q2")
    assert (job.batch_id, job.args, job.priority) == (batch.id, [1], 3)


def test_job_spec_turns_a_mapping_into_the_spec_enqueue_would_write(app: Conveyor) -> None:
    @app.task(queue="imports", max_attempts=5)
    def load(path: str) -> None: ...

    spec = app.job_spec({"task": "load", "args": ["a.csv"], "priority": 2})
    assert (spec.task, spec.args, spec.queue, spec.priority, spec.max_attempts) == ("load", ["a.csv"], "imports", 2, 5)
