"""What a worker does with jobs (run in-process: ``processes=0``; the prefork tests are in integration/)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from sqlalchemy import update

from conveyor import Conveyor, Discard, RetryPolicy, current_job
from conveyor.engine import clock
from conveyor.engine.states import JobState
from conveyor.errors import ConfigurationError
from conveyor.store import schema
from tests.conftest import run_cli

FAST = RetryPolicy(delay=0.05, multiplier=1.0, jitter=0)


def drain(app: Conveyor, queues: tuple[str, ...] = ("default",), **kw: Any) -> None:
    opts: dict[str, Any] = {"processes": 0, "stop_when_empty": True, "sleep": 0.05, "concurrency": 2}
    opts.update(kw)
    assert app.work(list(queues), **opts) == 0


def test_sync_and_async_tasks_both_run(app: Conveyor) -> None:
    seen: list[str] = []

    @app.task
    def sync_task(x: str) -> None:
        seen.append(x)

    @app.task
    async def async_task(x: str) -> None:
        await asyncio.sleep(0.01)
        seen.append(x)

    a, b = sync_task.enqueue("sync"), async_task.enqueue("async")
    drain(app)
    assert sorted(seen) == ["async", "sync"]
    assert app.get_job(a).state == app.get_job(b).state == JobState.COMPLETED


def test_return_value_is_stored_only_when_the_task_opts_in(app: Conveyor) -> None:
    @app.task(store_result=True)
    def answer() -> dict[str, int]:
        return {"answer": 42}

    @app.task
    def quiet() -> int:
        return 1

    a, b = answer.enqueue(), quiet.enqueue()
    drain(app)
    assert app.get_job(a).result == {"answer": 42}
    assert app.get_job(b).result is None


def test_failing_task_is_retried_then_discarded_with_every_traceback(app: Conveyor) -> None:
    calls: list[int] = []

    @app.task(max_attempts=3, retry=FAST)
    def flaky() -> None:
        calls.append(current_job().attempt)
        raise ValueError(f"boom {len(calls)}")

    job = flaky.enqueue()
    for _ in range(3):
        drain(app)
        import time

        time.sleep(0.1)  # let the back-off pass
    rec = app.get_job(job)
    assert calls == [1, 2, 3]
    assert rec.state == JobState.DISCARDED and rec.attempt == 3
    assert [e.error for e in rec.errors] == ["ValueError: boom 1", "ValueError: boom 2", "ValueError: boom 3"]
    assert all(e.traceback and "raise ValueError" in e.traceback for e in rec.errors)


def test_a_task_that_succeeds_on_retry_completes(app: Conveyor) -> None:
    state = {"n": 0}

    @app.task(max_attempts=3, retry=FAST)
    def second_time_lucky() -> None:
        state["n"] += 1
        if state["n"] == 1:
            raise ConnectionError("remote hiccup")

    job = second_time_lucky.enqueue()
    drain(app)
    import time

    time.sleep(0.1)
    drain(app)
    rec = app.get_job(job)
    assert rec.state == JobState.COMPLETED and rec.attempt == 2
    assert [e.error for e in rec.errors] == ["ConnectionError: remote hiccup"]


def test_unknown_task_is_discarded_and_the_worker_keeps_running(app: Conveyor) -> None:
    ran: list[int] = []

    @app.task
    def known(i: int) -> None:
        ran.append(i)

    producer = Conveyor(app.settings.database_url)  # an app without tasks may enqueue any name
    bad = producer.enqueue("x")
    producer.close()
    good = known.enqueue(1)
    drain(app)
    rec = app.get_job(bad)
    assert rec.state == JobState.DISCARDED
    assert rec.errors[0].error.startswith("unknown task 'x' (registered: known)")
    assert app.get_job(good).state == JobState.COMPLETED and ran == [1]


def test_first_listed_queue_is_served_first(app: Conveyor) -> None:
    order: list[str] = []

    @app.task
    def mark(tag: str) -> None:
        order.append(tag)

    app.enqueue_many([{"task": "mark", "args": ["default"], "queue": "default"} for _ in range(3)])
    app.enqueue_many([{"task": "mark", "args": ["snapshots"], "queue": "snapshots"} for _ in range(3)])
    drain(app, ("snapshots", "default"), concurrency=1)
    assert order == ["snapshots"] * 3 + ["default"] * 3


def test_higher_priority_runs_first_then_fifo(app: Conveyor) -> None:
    order: list[int] = []

    @app.task
    def mark(i: int) -> None:
        order.append(i)

    app.enqueue_many([{"task": "mark", "args": [i], "priority": p} for i, p in [(1, 0), (2, 9), (3, 0), (4, 9)]])
    drain(app, concurrency=1)
    assert order == [2, 4, 1, 3]


def test_paused_queue_is_not_served(app: Conveyor) -> None:
    ran: list[int] = []

    @app.task
    def mark(i: int) -> None:
        ran.append(i)

    mark.enqueue(1)
    app.driver.set_paused("default", True, 0)
    # A paused queue is skipped; with --stop-when-empty the worker would wait for it forever, so run
    # a bounded worker in a thread and stop it.
    from conveyor.worker.executor import Executor
    from conveyor.worker.options import WorkerOptions

    ex = Executor(app, WorkerOptions(queues=["default"], processes=0, sleep=0.05), "test/1")
    t = threading.Thread(target=ex.run)
    t.start()
    import time

    time.sleep(0.5)
    assert ran == []
    app.driver.set_paused("default", False, 0)
    deadline = time.monotonic() + 5
    while not ran and time.monotonic() < deadline:
        time.sleep(0.05)
    ex.request_stop()
    t.join(10)
    assert ran == [1]


def test_once_runs_exactly_one_job(app: Conveyor) -> None:
    ran: list[int] = []

    @app.task
    def mark(i: int) -> None:
        ran.append(i)

    app.enqueue_many([mark.job(i) for i in range(3)])
    assert app.work(["default"], processes=0, once=True, sleep=0.05) == 0
    assert ran == [0]


def test_max_jobs_stops_the_worker(app: Conveyor) -> None:
    ran: list[int] = []

    @app.task
    def mark(i: int) -> None:
        ran.append(i)

    app.enqueue_many([mark.job(i) for i in range(10)])
    from multiprocessing import Value

    from conveyor.worker.executor import Executor
    from conveyor.worker.options import WorkerOptions

    ex = Executor(app, WorkerOptions(queues=["default"], concurrency=1, max_jobs=4, sleep=0.05), "t/1", Value("q", 0))
    ex.run()
    assert len(ran) == 4


def test_current_job_outside_a_task_raises() -> None:
    with pytest.raises(RuntimeError, match="only available inside a running task"):
        current_job()


def test_work_refuses_tries_and_points_to_the_setting(app: Conveyor) -> None:
    @app.task
    def t() -> None: ...

    job = t.enqueue()
    with pytest.raises(ConfigurationError, match="CONVEYOR_MAX_ATTEMPTS=1"):
        app.work(["default"], processes=0, stop_when_empty=True, sleep=0.05, tries=1)
    assert app.get_job(job).state == JobState.AVAILABLE  # nothing was run


def test_cli_work_tries_exits_2_with_one_line(env: Conveyor) -> None:
    code, out = run_cli("--app", "tests.integration.jobs_app:app", "work", "--tries", "5", "--stop-when-empty")
    assert code == 2
    assert " ".join(out.split()) == (  # one message (the console may wrap it at its width)
        "error: --tries is gone: a job's attempts are fixed when it is enqueued; set CONVEYOR_MAX_ATTEMPTS=5 "
        "(default for tasks that set none) or max_attempts= on the task"
    )


def test_worker_retries_up_to_the_attempts_stored_with_the_job(db_url: str) -> None:
    app = Conveyor(db_url, max_attempts=2)
    app.migrate()
    calls: list[int] = []

    @app.task(retry=FAST)
    def undeclared() -> None:
        calls.append(current_job().attempt)
        raise ValueError("no")

    job = undeclared.enqueue()
    assert app.get_job(job).max_attempts == 2
    for _ in range(3):
        drain(app)
        time.sleep(0.1)  # let the back-off pass
    rec = app.get_job(job)
    assert calls == [1, 2]
    assert (rec.state, rec.attempt, rec.max_attempts) == (JobState.DISCARDED, 2, 2)
    app.close()


def test_a_task_sees_lease_lost_once_its_job_was_taken_over_while_it_ran(app: Conveyor) -> None:
    seen: list[bool] = []

    @app.task
    def long_job() -> None:
        job = current_job()
        seen.append(job.lease_lost)
        # As if this worker had frozen past its lease: rescued, and now another worker holds the job.
        with app.driver.begin() as c:
            c.execute(
                update(schema.jobs)
                .where(schema.jobs.c.id == job.id)
                .values(worker_id="elsewhere:1:abc/1", lease_expires_at=clock.now() + 3600)
            )
        deadline = time.monotonic() + 10
        while not job.lease_lost and time.monotonic() < deadline:
            time.sleep(0.05)
        seen.append(job.lease_lost)

    job = long_job.enqueue()
    app.work(["default"], processes=0, once=True, sleep=0.05, lease=0.6)  # heartbeat every 0.2 s
    assert seen == [False, True]
    rec = app.get_job(job)
    assert (rec.state, rec.worker_id) == (JobState.EXECUTING, "elsewhere:1:abc/1")  # our outcome was ignored


def test_discard_fails_a_job_for_good_without_using_its_attempts(app: Conveyor) -> None:
    @app.task(name="bad_token", max_attempts=5)
    def bad_token() -> None:
        try:
            raise PermissionError("401 invalid-token")
        except PermissionError as exc:
            raise Discard("authentication failed for shop acme") from exc

    job_id = app.enqueue("bad_token")
    assert app.work(["default"], processes=0, stop_when_empty=True, sleep=0.05) == 0
    job = app.get_job(job_id)
    assert job.state == "discarded" and job.attempt == 1
    assert job.errors[-1].error == "PermissionError: authentication failed for shop acme"
