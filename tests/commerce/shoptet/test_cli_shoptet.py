"""``conveyor shoptet``: shops, run now, snapshots with ``--wait``, the pipeline log, and one-line errors."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from typer.testing import CliRunner

from conveyor.commerce.shoptet import pipelines
from conveyor.commerce.shoptet.cli import cli
from conveyor.commerce.shoptet.simulator import DEFAULT_PRIVATE_TOKEN
from conveyor.commerce.store import KEY_ENV, ExecutionStatus
from tests.commerce.shoptet.test_pipelines import KEY, Rig, forwarding_webhooks, running_shop, sqlite_rig

__all__ = ["sqlite_rig"]  # fixture shared with test_pipelines


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich lays tables out for 80 columns when not on a terminal; the tests read whole rows."""
    monkeypatch.setenv("COLUMNS", "250")


def shoptet(rig: Rig | None, *args: str, app: Any = None) -> tuple[int, str]:
    """Run ``conveyor shoptet ARGS`` in-process on the rig's application; (exit code, stdout + stderr)."""
    obj = {"app_path": None, "app": rig.app if rig is not None else app}
    result = CliRunner().invoke(cli, list(args), obj=obj)
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes is not None else "")


def test_shops_are_added_listed_and_removed_by_name_or_id(sqlite_rig: Rig) -> None:
    code, out = shoptet(sqlite_rig, "shops", "add", "beta", "--url", sqlite_rig.base_url, "--token", "t0k3n",
                        "--eshop-id", "42", "--master", "--timezone", "Europe/Bratislava")  # fmt: skip
    assert code == 0, out
    assert "shop 2 'beta' added (private token, master)" in out

    code, out = shoptet(sqlite_rig, "shops", "list")
    assert code == 0 and "acme" in out and "beta" in out and "Europe/Bratislava" in out
    assert "t0k3n" not in out  # credentials are never shown

    assert shoptet(sqlite_rig, "shops", "remove", "beta", "--yes")[0] == 0
    code, out = shoptet(sqlite_rig, "shops", "remove", str(sqlite_rig.shop.id), "--yes")
    assert code == 0 and "removed" in out
    assert pipelines.list_shops(sqlite_rig.app) == []


def test_adding_a_shop_twice_or_without_a_token_is_a_one_line_error(sqlite_rig: Rig) -> None:
    code, out = shoptet(sqlite_rig, "shops", "add", "acme", "--url", sqlite_rig.base_url, "--token", "x")
    assert code == 2 and "a shop named 'acme' already exists" in out and "Traceback" not in out
    code, out = shoptet(sqlite_rig, "shops", "add", "gamma", "--url", sqlite_rig.base_url)
    assert code == 2 and "needs a private API token" in out


def test_run_queues_a_pipeline_and_executions_shows_the_log(sqlite_rig: Rig) -> None:
    code, out = shoptet(sqlite_rig, "run", "acme", "orders.fetch_new")
    assert code == 0 and "execution 1 (orders.fetch_new) queued as job" in out
    sqlite_rig.work()

    code, out = shoptet(sqlite_rig, "executions", "acme")
    assert code == 0, out
    assert "orders.fetch_new" in out and "manual" in out and "completed" in out and "150" in out


def test_snapshot_wait_follows_the_worker_to_the_end(sqlite_rig: Rig) -> None:
    def worker() -> None:  # a worker elsewhere: it starts once the snapshot is queued
        deadline = time.monotonic() + 10
        while not sqlite_rig.executions() and time.monotonic() < deadline:
            time.sleep(0.02)
        sqlite_rig.work()

    with forwarding_webhooks(sqlite_rig, events=("job:finished",)):
        working = threading.Thread(target=worker)
        working.start()
        try:
            code, out = shoptet(sqlite_rig, "snapshot", "acme", "orders", "--wait")
        finally:
            working.join(timeout=15)
    assert code == 0, out
    assert "execution 1 completed: read 150, created 150" in out


def test_unknown_shop_pipeline_or_kind_is_refused(sqlite_rig: Rig) -> None:
    code, out = shoptet(sqlite_rig, "run", "nope", "orders.fetch_new")
    assert code == 2 and "shop 'nope' not found" in out
    code, out = shoptet(sqlite_rig, "run", "acme", "orders.everything")
    assert code == 2 and "unknown pipeline 'orders.everything'" in out
    code, out = shoptet(sqlite_rig, "snapshot", "acme", "invoices")
    assert code == 2 and "invoices" in out


def test_retry_snapshot_refuses_a_run_that_is_not_a_failed_snapshot(sqlite_rig: Rig) -> None:
    execution = sqlite_rig.run()
    code, out = shoptet(sqlite_rig, "retry-snapshot", str(execution.id))
    assert code == 2 and "not a snapshot" in out
    code, out = shoptet(sqlite_rig, "retry-snapshot", "999")
    assert code == 2 and "pipeline execution 999 not found" in out


def test_a_failed_snapshot_is_retried_from_the_cli(sqlite_rig: Rig) -> None:
    _, _ = shoptet(sqlite_rig, "snapshot", "acme", "customers")  # no job:finished webhook: Shoptet refuses
    sqlite_rig.work()
    (failed,) = sqlite_rig.executions("snapshot.customers")
    assert failed.status is ExecutionStatus.ERROR

    with forwarding_webhooks(sqlite_rig, events=("job:finished",)):
        code, out = shoptet(sqlite_rig, "retry-snapshot", str(failed.id))
        sqlite_rig.work()
    assert code == 0 and f"execution {failed.id + 1} (snapshot.customers) queued" in out
    assert pipelines.get_execution(sqlite_rig.app, failed.id + 1).status is ExecutionStatus.COMPLETED


def test_executions_errors_lists_the_records_that_failed(tmp_path: Any) -> None:
    with running_shop(f"sqlite:///{tmp_path / 'c.db'}", tmp_path, malformed_rate=0.05) as rig:
        execution = rig.run()
        assert execution.counts.failed > 0
        code, out = shoptet(rig, "executions", "--errors", str(execution.id))
    assert code == 0 and "record errors of execution" in out and "does not match" in out


def test_a_bare_application_gets_the_pipelines_from_the_environment(
    sqlite_rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONVEYOR_DATABASE_URL", sqlite_rig.app.settings.database_url)
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.delenv("CONVEYOR_APP", raising=False)

    code, out = shoptet(None, "shops", "add", "second", "--url", sqlite_rig.base_url, "--token", DEFAULT_PRIVATE_TOKEN)

    assert code == 0, out
    assert [s.name for s in pipelines.list_shops(sqlite_rig.app)] == ["acme", "second"]
    assert pipelines.pack_of(sqlite_rig.app).credentials(2)["token"] == DEFAULT_PRIVATE_TOKEN
