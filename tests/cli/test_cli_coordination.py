"""``conveyor batches`` and ``conveyor jobs watch`` as a user types them."""

from __future__ import annotations

from conveyor import Conveyor
from tests.conftest import run_cli


def test_batches_list_show_cancel(env: Conveyor) -> None:
    assert "no batches yet" in run_cli("batches", "list")[1]
    batch = env.batch([{"task": "t", "args": [i]} for i in range(4)], name="full stock sync")
    code, out = run_cli("batches", "list")
    assert code == 0 and "full stock sync" in out and "running" in out
    code, out = run_cli("batches", "show", str(batch.id))
    assert code == 0 and "0 of 4" in out
    code, out = run_cli("batches", "cancel", str(batch.id))
    assert code == 0 and "4 waiting job(s) cancelled" in out
    assert env.get_batch(batch.id).state == "cancelled"
    code, out = run_cli("batches", "retry-failed", str(batch.id))
    assert code == 0 and "has no failed jobs" in out


def test_unknown_batch_is_an_error(env: Conveyor) -> None:
    assert run_cli("batches", "show", "77") == (2, "error: batch 77 not found\n")


def test_jobs_watch_follows_a_job_to_the_end(env: Conveyor) -> None:
    @env.task
    def count(n: int) -> None:
        from conveyor import current_job

        for i in range(n):
            current_job().progress(i + 1, n, message="rows")

    job = count.enqueue(500)
    env.work(["default"], processes=0, stop_when_empty=True, sleep=0.05)
    code, out = run_cli("jobs", "watch", str(job))
    assert code == 0 and "500/500" in out and f"job {job} completed" in out
    code, out = run_cli("jobs", "show", str(job))
    assert "500 of 500 rows" in out


def test_jobs_cancel_of_running_job_asks_it_to_stop(env: Conveyor) -> None:
    job = env.enqueue("t")
    conn = env.driver.connect()
    from conveyor.engine import clock

    env.driver.fetch_available(conn, "default", 1, "w/1", clock.now(), 60)
    code, out = run_cli("jobs", "cancel", str(job))
    assert code == 0 and "asked it to stop" in out
    assert env.get_job(job).cancel_requested
