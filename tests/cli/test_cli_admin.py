"""The CLI on the admin service: refused inputs (exit 2, one line, nothing written), --json, piped tables."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path

import pytest

from conveyor import Conveyor
from conveyor.cli.common import setup_logging
from conveyor.engine import clock
from conveyor.engine.states import JobState
from conveyor.store.base import Failure
from tests.conftest import free_port, run_cli

APP_SOURCE = """
from conveyor import Conveyor

app = Conveyor()

@app.task
def send_email(offer_id: int) -> None: ...
"""


@pytest.fixture
def app_path(env: Conveyor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """``--app`` value of a fresh module (its own name: every test gets an app on its own database)."""
    name = f"cli_app_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(APP_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return f"{name}:app"


def _waiting(app: Conveyor) -> int:
    return sum(q.waiting for q in app.queue_stats())


def _fail(app: Conveyor, job_id: int, error: str) -> None:
    conn = app.driver.connect()
    app.driver.fetch_available(conn, app.get_job(job_id).queue, 1, "w/1", clock.now(), 60)
    app.driver.fail_jobs(conn, [Failure(job_id, 1, error, None, None)], "w/1", clock.now())
    conn.close()


# ------------------------------------------------------------------ refused inputs
def test_enqueue_of_an_unknown_task_with_the_app_loaded_is_refused(env: Conveyor, app_path: str) -> None:
    code, out = run_cli("--app", app_path, "enqueue", "no_such_task")
    assert code == 2
    assert out.strip() == "error: unknown task 'no_such_task' (registered: send_email)"
    assert _waiting(env) == 0


def test_enqueue_with_arguments_that_do_not_fit_the_task_is_refused(env: Conveyor, app_path: str) -> None:
    code, out = run_cli("--app", app_path, "enqueue", "send_email", "--args", "[1, 2]")
    assert code == 2 and "arguments do not fit task send_email(offer_id): too many positional arguments" in out
    assert _waiting(env) == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--delay", "inf"], "delay must be a finite number of seconds >= 0, got inf"),
        (["--queue", "a,b"], "cannot contain a comma"),
        (["--priority", str(2**40)], "priority must be an integer in [-2**31, 2**31)"),
    ],
)
def test_enqueue_refuses_bad_options_with_one_line(env: Conveyor, options: list[str], message: str) -> None:
    code, out = run_cli("enqueue", "t", *options)
    assert code == 2 and message in out and len(out.strip().splitlines()) == 1
    assert _waiting(env) == 0


def test_work_without_tasks_refuses_to_start(env: Conveyor) -> None:
    code, out = run_cli("work", "--stop-when-empty")
    assert code == 2 and "no tasks are registered" in out and "--app" in out


def test_up_without_tasks_refuses_to_start(env: Conveyor) -> None:
    code, out = run_cli("up", "--port", str(free_port()))
    assert code == 2 and "no tasks are registered" in out


def test_work_refuses_a_queue_name_with_a_control_character(env: Conveyor) -> None:
    code, out = run_cli("work", "--queue", "mail\x01")
    assert code == 2 and "control character" in out


def test_pausing_an_unknown_queue_is_refused_and_creates_no_queue(env: Conveyor) -> None:
    env.enqueue("t", queue="mail")
    code, out = run_cli("queue", "pause", "nosuchqueue")
    assert code == 2 and out.strip() == "error: unknown queue 'nosuchqueue' (known: mail)"
    assert [q.queue for q in env.queue_stats()] == ["mail"]


def test_queue_stats_on_a_database_without_tables_says_run_db_upgrade(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONVEYOR_DATABASE_URL", db_url)
    monkeypatch.delenv("CONVEYOR_APP", raising=False)
    code, out = run_cli("queue", "stats")
    assert code == 2
    assert out.strip() == "error: the database has no Conveyor tables: run `conveyor db upgrade`"


def test_up_refuses_an_unknown_log_level(env: Conveyor, app_path: str) -> None:
    code, out = run_cli("--app", app_path, "up", "--log-level", "loud")
    assert code == 2 and "--log-level" in out and "loud" in out


# ------------------------------------------------------------------ one rule with the web
def test_failed_forget_deletes_a_cancelled_job_like_the_web(env: Conveyor) -> None:
    job = env.enqueue("t", delay=60)
    env.cancel(job)
    assert run_cli("failed", "forget", str(job)) == (0, "1 failed job(s) deleted\n")


def test_failed_forget_of_a_waiting_job_deletes_nothing(env: Conveyor) -> None:
    failed, waiting = env.enqueue("t"), env.enqueue("t", queue="other")
    _fail(env, failed, "KeyError: 'sku'")
    code, out = run_cli("failed", "forget", str(failed), str(waiting))
    assert code == 2 and f"job {waiting} is available" in out
    assert env.get_job(failed).state == JobState.DISCARDED


def test_failed_retry_all_narrowed_by_error_class(env: Conveyor) -> None:
    key, timeout = env.enqueue("t"), env.enqueue("t", queue="other")
    _fail(env, key, "KeyError: 'sku'")
    _fail(env, timeout, "TimeoutError: 30s")
    assert run_cli("failed", "retry", "--all", "--error-class", "KeyError") == (0, "1 job(s) queued again\n")
    assert (env.get_job(key).state, env.get_job(timeout).state) == (JobState.AVAILABLE, JobState.DISCARDED)


def test_failed_retry_filters_need_all(env: Conveyor) -> None:
    code, out = run_cli("failed", "retry", "1", "--queue", "x")
    assert code == 2 and "narrow --all" in out


# ------------------------------------------------------------------ output
def test_failed_list_piped_keeps_a_long_error_on_one_line(env: Conveyor) -> None:
    job = env.enqueue("sync_orders_for_a_shop_with_a_long_name")
    error = "unknown task 'sync_orders_for_a_shop_with_a_long_name' (registered: import_products, send_email)"
    _fail(env, job, error)
    code, out = run_cli("failed", "list")
    assert code == 0
    assert [line for line in out.splitlines() if "unknown task" in line and error in line]


def test_failed_list_json_is_one_document(env: Conveyor) -> None:
    job = env.enqueue("t", kwargs={"api_key": "k-1"})
    _fail(env, job, "KeyError: 'sku'")
    code, out = run_cli("failed", "list", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["next_before"] is None
    [row] = doc["jobs"]
    assert (row["id"], row["state"], row["last_error"], row["kwargs"]) == (
        job,
        "discarded",
        "KeyError: 'sku'",
        {"api_key": "[redacted]"},
    )
    assert row["errors"][0]["error"] == "KeyError: 'sku'"


def test_queue_stats_json_has_every_state_and_the_processed_counts(env: Conveyor) -> None:
    env.enqueue("t")
    code, out = run_cli("queue", "stats", "--json")
    assert code == 0
    [q] = json.loads(out)["queues"]
    assert q["queue"] == "default" and q["waiting"] == 1 and q["counts"]["available"] == 1
    assert set(q["counts"]) == {s.value for s in JobState}
    assert (q["processed_last_minute"], q["failed_last_hour"], q["paused"]) == (0, 0, False)


def test_jobs_show_json(env: Conveyor) -> None:
    job = env.enqueue("t", args=[1])
    code, out = run_cli("jobs", "show", str(job), "--json")
    assert code == 0
    doc = json.loads(out)
    assert (doc["id"], doc["task"], doc["args"], doc["errors"]) == (job, "t", [1], [])


@pytest.mark.parametrize(
    ("command", "empty"),
    [
        (["batches", "list"], {"batches": [], "next_before": None}),
        (["locks", "list"], {"locks": []}),
    ],
)
def test_other_lists_print_json(env: Conveyor, command: list[str], empty: dict[str, object]) -> None:
    code, out = run_cli(*command, "--json")
    assert code == 0 and json.loads(out) == empty


def test_schedule_list_json_names_every_field(env: Conveyor) -> None:
    code, out = run_cli("schedule", "list", "--json")
    assert code == 0
    prune = {s["key"]: s for s in json.loads(out)["schedules"]}["conveyor.prune"]  # the built-in schedule
    assert prune["cron"] == "15 3 * * *" and prune["enabled"] is True and prune["last_run"] is None
    assert {"next_at", "timezone", "overridden", "status", "params", "queue"} <= set(prune)


def test_http_client_requests_stay_quiet_unless_debug() -> None:
    setup_logging(level="info")
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
    setup_logging(level="debug")
    assert logging.getLogger("httpx").isEnabledFor(logging.DEBUG)
    setup_logging(level="info")


def test_work_serves_every_queue_given_by_repeated_or_comma_separated_options(env: Conveyor, app_path: str) -> None:
    for queue in ("import", "integrations", "mail"):
        env.enqueue("send_email", [1], queue=queue)
    code, out = run_cli(
        "--app", app_path, "work", "-q", "import", "-q", "integrations,mail", "--processes", "0", "--stop-when-empty"
    )
    assert code == 0, out
    assert _waiting(env) == 0  # the first -q did not replace the second, nor the other way round
