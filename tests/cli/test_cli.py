"""The command line as a user types it: outputs, exit codes, and nothing written on bad input."""

from __future__ import annotations

import pytest

from conveyor import Conveyor
from conveyor.engine import clock
from conveyor.engine.states import JobState
from conveyor.store.base import Failure
from tests.conftest import run_cli


def _fail(app: Conveyor, job_id: int) -> None:
    conn = app.driver.connect()
    app.driver.fetch_available(conn, "default", 1, "w/1", clock.now(), 60)
    app.driver.fail_jobs(
        conn,
        [Failure(job_id, 1, "KeyError: 'sku'", "Traceback …\nKeyError: 'sku'", None)],
        "w/1",
        clock.now(),
    )
    conn.close()


def test_enqueue_prints_the_job_id(env: Conveyor) -> None:
    code, out = run_cli("enqueue", "send_email", "--args", "[42]", "--queue", "high", "--priority", "5")
    assert code == 0
    rec = env.get_job(int(out.strip()))
    assert (rec.task, rec.args, rec.queue, rec.priority) == ("send_email", [42], "high", 5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["enqueue", "t", "--args", "[1"], "not valid JSON"),
        (["enqueue", "t", "--args", '{"a": 1}'], "must be a JSON array"),
        (["enqueue", "t", "--kwargs", "[1]"], "must be a JSON object"),
        (["work", "--queue", "a,,b"], "is not a queue list"),
        (["work", "--queue", ""], "is not a queue list"),
        (["work", "--concurrency", "0"], "concurrency"),
    ],
)
def test_malformed_options_are_usage_errors(env: Conveyor, args: list[str], message: str) -> None:
    code, out = run_cli(*args)
    assert code == 2
    assert message in out
    assert env.driver.queue_stats(clock.now()) == []  # nothing written


def test_bad_app_path_is_one_clear_line(env: Conveyor) -> None:
    code, out = run_cli("--app", "no_such_module:app", "queue", "stats")
    assert code == 2 and "cannot import 'no_such_module'" in out
    code, out = run_cli("--app", "nocolon", "queue", "stats")
    assert code == 2 and "--app must look like 'package.module:app'" in out


def test_jobs_show_lists_every_attempt_with_its_traceback(env: Conveyor) -> None:
    job = env.enqueue("sync_stock", args=[17800])
    _fail(env, job)
    code, out = run_cli("jobs", "show", str(job))
    assert code == 0
    assert "sync_stock" in out and "discarded" in out and "[17800]" in out
    assert "attempt 1 failed" in out and "KeyError: 'sku'" in out and "Traceback" in out


def test_jobs_show_redacts_secret_arguments(env: Conveyor) -> None:
    job = env.enqueue("sync_stock", kwargs={"shop": "cz", "api_key": "k-123", "auth": {"access_token": "t-456"}})
    code, out = run_cli("jobs", "show", str(job))
    assert code == 0
    assert '"shop": "cz"' in out and out.count("[redacted]") == 2
    assert "k-123" not in out and "t-456" not in out


def test_unknown_job_id_is_an_error(env: Conveyor) -> None:
    code, out = run_cli("jobs", "show", "999")
    assert code == 2 and "job 999 not found" in out


def test_failed_store_list_retry_and_forget(env: Conveyor) -> None:
    a, b = env.enqueue("t"), env.enqueue("t")
    _fail(env, a)
    _fail(env, b)
    code, out = run_cli("failed", "list")
    assert code == 0 and str(a) in out and "KeyError" in out
    code, out = run_cli("failed", "retry", str(a))
    assert code == 0 and env.get_job(a).state == JobState.AVAILABLE
    code, out = run_cli("failed", "retry", str(a))  # not failed any more
    assert code == 2 and f"job {a} is available, not failed" in out
    code, out = run_cli("failed", "forget", str(b))
    assert code == 0 and "1 failed job(s) deleted" in out
    code, out = run_cli("failed", "list")
    assert "no failed jobs" in out


def test_failed_retry_all_and_flush(env: Conveyor) -> None:
    ids = [env.enqueue("t") for _ in range(3)]
    for i in ids:
        _fail(env, i)
    assert run_cli("failed", "retry", "--all") == (0, "3 job(s) queued again\n")
    for i in ids:
        _fail(env, i)
    assert run_cli("failed", "flush")[1] == "3 failed job(s) deleted\n"


def test_failed_retry_needs_ids_or_all(env: Conveyor) -> None:
    code, out = run_cli("failed", "retry")
    assert code == 2 and "give job ids or --all" in out


def test_queue_monitor_names_the_queue_that_is_over(env: Conveyor) -> None:
    env.enqueue_many([{"task": "t", "queue": "snapshots"} for _ in range(5)])
    code, out = run_cli("queue", "monitor", "default,snapshots", "--max", "3")
    assert code == 1
    assert "snapshots: 5 waiting (max 3) OVER" in out and "default: 0 waiting (max 3) ok" in out
    assert run_cli("queue", "monitor", "default,snapshots", "--max", "10")[0] == 0


def test_queue_pause_resume_clear_and_stats(env: Conveyor) -> None:
    env.enqueue_many([{"task": "t"} for _ in range(4)])
    assert run_cli("queue", "pause", "default")[0] == 0
    code, out = run_cli("queue", "stats")
    assert code == 0 and "default" in out and "yes" in out
    assert run_cli("queue", "resume", "default")[0] == 0
    assert env.driver.paused_queues() == set()
    assert run_cli("queue", "clear", "default", "--yes")[1] == "4 job(s) deleted from default\n"


def test_db_current_reports_an_outdated_schema(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVEYOR_DATABASE_URL", sqlite_url)
    code, out = run_cli("db", "current")
    assert code == 1 and "conveyor db upgrade" in out
    assert run_cli("db", "upgrade")[0] == 0
    assert run_cli("db", "current")[0] == 0


def test_cancel_a_waiting_job(env: Conveyor) -> None:
    job = env.enqueue("t", delay=60)
    assert run_cli("jobs", "cancel", str(job)) == (0, f"job {job} cancelled\n")
    assert env.get_job(job).state == JobState.CANCELLED
    assert run_cli("jobs", "cancel", str(job))[0] == 1


def test_failed_prune_deletes_only_old_failed_and_completed_jobs(env: Conveyor) -> None:
    old, recent = env.enqueue("t"), env.enqueue("t")
    _fail(env, old)
    _fail(env, recent)
    from sqlalchemy import update

    from conveyor.store.schema import jobs

    with env.driver.begin() as c:  # make one of them 10 days old
        c.execute(update(jobs).where(jobs.c.id == old).values(finished_at=clock.now() - 10 * 86400))
    code, out = run_cli("failed", "prune", "--hours", "168")
    assert code == 0 and "pruned 1 failed/cancelled" in out
    assert env.get_job(recent).state == JobState.DISCARDED
    with pytest.raises(Exception, match="not found"):
        env.get_job(old)
