"""``conveyor schedule …`` and ``conveyor scheduler`` end to end, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from typer.testing import CliRunner

from conveyor import Conveyor
from conveyor.cli import common
from conveyor.cli.main import cli
from conveyor.scheduler.schema import runs

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.scheduler.cliapp:app"
NOW = "2025-06-02T10:00:30Z"


@pytest.fixture
def env(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    a = Conveyor(db_url)
    a.migrate()
    a.close()
    monkeypatch.setenv("CONVEYOR_DATABASE_URL", db_url)
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(common.console, "width", 240)  # tables unsqueezed, so keys can be found in them
    sys.modules.pop("tests.scheduler.cliapp", None)
    yield {**os.environ, "CONVEYOR_DATABASE_URL": db_url}
    sys.modules.pop("tests.scheduler.cliapp", None)


def conveyor(*args: str) -> tuple[int, str]:
    sys.modules.pop("tests.scheduler.cliapp", None)  # a fresh application per command, like a real process
    result = CliRunner().invoke(cli, ["--app", APP, *args])
    return result.exit_code, result.output


def count_runs(url: str) -> int:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as c:
        n = int(c.execute(select(func.count()).select_from(runs)).scalar() or 0)
    engine.dispose()
    return n


def test_run_list_history_round_trip(env: dict[str, str]) -> None:
    code, out = conveyor("schedule", "run", "--now", "2025-06-02T09:59:00Z")
    assert code == 0, out
    code, out = conveyor("schedule", "run", "--now", NOW)
    assert code == 0 and "orders.fetch_new: fired slot 2025-06-02 10:00 UTC" in out, out
    code, out = conveyor("schedule", "list")
    assert code == 0 and "orders.fetch_new" in out and "unsupported" in out, out
    code, out = conveyor("schedule", "history", "orders.fetch_new")
    assert code == 0 and "queued" in out, out


def test_dry_run_prints_what_would_fire_and_writes_nothing(env: dict[str, str]) -> None:
    conveyor("schedule", "run", "--now", "2025-06-02T09:59:00Z")
    code, out = conveyor("schedule", "run", "--now", NOW, "--dry-run")
    assert code == 0 and "would fire" in out, out
    assert count_runs(env["CONVEYOR_DATABASE_URL"]) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cron", "*/5 * *"], "invalid cron expression"),
        (["--timezone", "Mars/Base"], "unknown timezone 'Mars/Base'"),
        (["--param", "chunk=lots"], "params do not fit task 'fetch_new_orders'"),
    ],
)
def test_set_with_bad_input_is_one_line_and_exit_2(env: dict[str, str], args: list[str], message: str) -> None:
    code, out = conveyor("schedule", "set", "orders.fetch_new", *args)
    assert code == 2 and message in out, out


def test_set_unknown_key_is_a_clear_error(env: dict[str, str]) -> None:
    code, out = conveyor("schedule", "set", "orders.nope", "--disable")
    assert code == 2 and "unknown schedule 'orders.nope'" in out


def test_set_then_trigger(env: dict[str, str]) -> None:
    code, out = conveyor(
        "schedule", "set", "orders.fetch_new", "--cron", "0 * * * *", "--param", "chunk=50", "--disable"
    )
    assert code == 0 and "disabled" in out and '"chunk": 50' in out, out
    code, out = conveyor("schedule", "trigger", "orders.fetch_new")
    assert code == 0 and "queued" in out, out


def test_overlapping_schedule_run_processes_claim_each_slot_once(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "conveyor.cli.main", "--app", APP, "schedule", "run", "--now", "2025-06-02T09:59:00Z"],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "conveyor.cli.main", "--app", APP, "schedule", "run", "--now", NOW],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    fired = sum(o.decode().count("fired slot") for o, _ in outputs)
    assert fired == 1 and count_runs(env["CONVEYOR_DATABASE_URL"]) == 1


def test_scheduler_loop_runs_and_stops(env: dict[str, str]) -> None:
    code, out = conveyor("scheduler", "--max-time", "0.5", "--poll", "0.1")
    assert code == 0, out
