"""Prefork workers as users run them: real processes, real signals, real databases."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from conveyor import Conveyor
from conveyor.engine.states import JobState
from tests.integration import jobs_app as tasks
from tests.integration.conftest import ROOT, Workers, state_of, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("transitions_checked")]


def test_stuck_job_is_killed_at_its_timeout_and_its_siblings_go_back_unharmed(app: Conveyor, workers: Workers) -> None:
    stuck = app.enqueue_spec(tasks.stuck.job())
    sibling = app.enqueue_spec(tasks.sleepy.job(2.5))
    w = workers.start("--concurrency", "2", "--sleep", "0.1")
    wait_for(lambda: state_of(app, stuck) == JobState.DISCARDED, 20, "the stuck job to time out")
    rec = app.get_job(stuck)
    assert rec.errors[-1].error.startswith("TimeoutError: job exceeded its 1s timeout")
    wait_for(lambda: state_of(app, sibling) == JobState.COMPLETED, 20, "the sibling to complete")
    sib = app.get_job(sibling)
    assert sib.attempt == 1 and sib.errors == []  # released without losing an attempt
    assert w.poll() is None  # the worker replaced its child and kept running
    os.killpg(w.pid, signal.SIGTERM)
    assert w.wait(20) == 0


def test_job_held_by_a_killed_worker_runs_again_on_another_after_its_lease(app: Conveyor, workers: Workers) -> None:
    job = app.enqueue_spec(tasks.sleepy.job(1.0))
    first = workers.start("--sleep", "0.1", CONVEYOR_LEASE_SECONDS="2")
    # started_at written: the database knows the body began, so the rescue charges the attempt
    wait_for(lambda: app.get_job(job).started_at is not None, 20, "the job to start")
    os.killpg(first.pid, signal.SIGKILL)  # supervisor and child, like a lost machine
    first.wait(10)
    second = workers.start("--sleep", "0.1", CONVEYOR_LEASE_SECONDS="2")
    wait_for(lambda: state_of(app, job) == JobState.COMPLETED, 30, "the rescued job to complete")
    rec = app.get_job(job)
    assert rec.attempt == 2
    assert "worker lost" in rec.errors[0].error
    os.killpg(second.pid, signal.SIGTERM)
    assert second.wait(20) == 0


def test_child_that_dies_mid_job_is_replaced_and_its_job_rescued_at_once(app: Conveyor, workers: Workers) -> None:
    job = app.enqueue_spec(tasks.crash_once.job())
    w = workers.start("--sleep", "0.1")  # default 60 s lease: rescue must not wait for it
    wait_for(lambda: state_of(app, job) == JobState.COMPLETED, 20, "the job to survive on attempt 2")
    rec = app.get_job(job)
    assert rec.attempt == 2 and "worker lost" in rec.errors[0].error
    os.killpg(w.pid, signal.SIGTERM)
    w.wait(20)
    assert "exited unexpectedly (code 3)" in w.stderr.read()  # type: ignore[union-attr]


def test_sigterm_lets_the_running_job_finish_and_gives_back_the_rest(app: Conveyor, workers: Workers) -> None:
    ids = [app.enqueue_spec(tasks.sleepy.job(1.0)) for _ in range(3)]
    w = workers.start("--concurrency", "1", "--sleep", "0.1")
    wait_for(lambda: any(state_of(app, i) == JobState.EXECUTING for i in ids), 20, "a job to start")
    os.killpg(w.pid, signal.SIGTERM)
    assert w.wait(30) == 0
    states = sorted(state_of(app, i).value for i in ids)
    assert states.count("completed") >= 1
    assert "executing" not in states  # nothing left claimed by a worker that is gone
    for i in ids:
        rec = app.get_job(i)
        if rec.state == JobState.AVAILABLE:
            assert rec.attempt == 0  # given back without spending an attempt


def test_running_job_past_the_grace_period_is_released_without_losing_an_attempt(
    app: Conveyor, workers: Workers
) -> None:
    job = app.enqueue_spec(tasks.sleepy.job(30))
    w = workers.start("--sleep", "0.1", CONVEYOR_SHUTDOWN_GRACE_SECONDS="1")
    wait_for(lambda: state_of(app, job) == JobState.EXECUTING, 20, "the job to start")
    os.killpg(w.pid, signal.SIGTERM)
    assert w.wait(20) == 0
    rec = app.get_job(job)
    assert (rec.state, rec.attempt) == (JobState.AVAILABLE, 0)


def test_max_time_stops_the_worker_cleanly(app: Conveyor, workers: Workers) -> None:
    w = workers.start("--max-time", "1", "--sleep", "0.1")
    assert w.wait(20) == 0
    assert "--max-time 1s reached" in w.stderr.read()  # type: ignore[union-attr]


def test_stop_when_empty_with_several_processes(app: Conveyor, workers: Workers) -> None:
    ids = app.enqueue_many([{"task": "record"} for _ in range(300)])
    w = workers.start("--processes", "2", "--stop-when-empty", "--sleep", "0.1")
    assert w.wait(60) == 0
    assert {state_of(app, i) for i in ids[::37]} == {JobState.COMPLETED}
    assert set(workers.executions().values()) == {1}


def test_worker_refuses_an_outdated_schema(sqlite_url: str, tmp_path: object) -> None:
    env = dict(os.environ, CONVEYOR_DATABASE_URL=sqlite_url, PYTHONPATH=str(ROOT))
    r = subprocess.run(
        [sys.executable, "-m", "conveyor.cli.main", "work"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert "schema is out of date" in r.stderr and "conveyor db upgrade" in r.stderr
    assert "Traceback" not in r.stderr


def test_memory_limit_stops_the_worker_cleanly_naming_the_process(app: Conveyor, workers: Workers) -> None:
    w = workers.start("--memory-limit", "1", "--sleep", "0.1")  # every Python process is over 1 MiB
    assert w.wait(20) == 0
    err = w.stderr.read()  # type: ignore[union-attr]
    assert "--memory-limit 1 MiB exceeded by" in err


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def test_buffered_jobs_of_a_killed_child_never_lose_an_attempt(app: Conveyor, workers: Workers) -> None:
    """Issue #10 item 1: four slow jobs fill the runner threads, ten fast ones wait in the child's buffer,
    the child is SIGKILLed three times 1.5 s apart. Only the jobs that were running are charged."""
    slow = [app.enqueue_spec(tasks.sleepy.job(3)) for _ in range(4)]
    fast = [app.enqueue_spec(tasks.record.job()) for _ in range(10)]
    w = workers.start("--concurrency", "4", "--sleep", "0.1")
    wait_for(lambda: all(state_of(app, i) == JobState.EXECUTING for i in slow + fast), 20, "all jobs claimed")
    killed: list[int] = []
    for _ in range(3):
        wait_for(lambda: [c for c in _children(w.pid) if c not in killed] != [], 20, "a fresh child")
        child = next(c for c in _children(w.pid) if c not in killed)
        time.sleep(1.5)
        os.kill(child, signal.SIGKILL)
        killed.append(child)
    wait_for(lambda: all(state_of(app, i) == JobState.COMPLETED for i in fast), 30, "the fast jobs to run")
    for i in fast:
        rec = app.get_job(i)
        assert (rec.attempt, rec.errors, rec.crashes) == (1, [], 0)
    for i in slow:  # running at the first two deaths: charged each time, then quarantined
        rec = app.get_job(i)
        assert (rec.state, rec.attempt, rec.crashes) == (JobState.DISCARDED, 2, 2)
        assert "died (signal SIGKILL) while running this job" in rec.errors[0].error
        assert rec.errors[-1].error.startswith("killed its worker 2 times")
    os.killpg(w.pid, signal.SIGTERM)
    assert w.wait(30) == 0


def test_job_that_kills_its_worker_is_quarantined_after_two_deaths(app: Conveyor, workers: Workers) -> None:
    job = app.enqueue_spec(tasks.crash_always.job())  # 5 attempts: quarantine must stop it at 2
    w = workers.start("--sleep", "0.1")
    wait_for(lambda: state_of(app, job) == JobState.DISCARDED, 30, "the job to be quarantined")
    rec = app.get_job(job)
    assert (rec.attempt, rec.crashes) == (2, 2)
    assert "died (exit code 3) while running this job" in rec.errors[0].error
    assert rec.errors[-1].error.startswith("killed its worker 2 times")
    assert workers.executions()[job] == 2  # no third worker taken down
    after = app.enqueue_spec(tasks.record.job())
    wait_for(lambda: state_of(app, after) == JobState.COMPLETED, 20, "the worker to carry on")
    os.killpg(w.pid, signal.SIGTERM)
    assert w.wait(30) == 0


def test_job_buffered_on_a_lost_machine_runs_again_without_losing_an_attempt(app: Conveyor, workers: Workers) -> None:
    slow = app.enqueue_spec(tasks.sleepy.job(30))
    waiting = app.enqueue_spec(tasks.record.job())
    lease = {"CONVEYOR_LEASE_SECONDS": "2", "CONVEYOR_SHUTDOWN_GRACE_SECONDS": "1"}
    first = workers.start("--concurrency", "1", "--sleep", "0.1", **lease)
    wait_for(
        lambda: app.get_job(slow).started_at is not None and state_of(app, waiting) == JobState.EXECUTING,
        20,
        "one job running, one waiting in the buffer",
    )
    os.killpg(first.pid, signal.SIGKILL)  # supervisor and child: only the lease can tell the others
    first.wait(10)
    second = workers.start("--concurrency", "2", "--sleep", "0.1", **lease)
    wait_for(lambda: state_of(app, waiting) == JobState.COMPLETED, 30, "the buffered job to run")
    rec = app.get_job(waiting)
    assert (rec.attempt, rec.errors, rec.crashes) == (1, [], 0)
    wait_for(lambda: app.get_job(slow).attempt == 2, 20, "the running job to be charged and run again")
    assert "worker lost" in app.get_job(slow).errors[0].error and app.get_job(slow).crashes == 1
    os.killpg(second.pid, signal.SIGTERM)
    assert second.wait(30) == 0
