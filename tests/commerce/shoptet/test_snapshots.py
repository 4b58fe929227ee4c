"""Manual snapshots end to end: request, wait (webhook or gentle polls), download with checksum, verify,
import in chunks with progress; the bad inputs (malformed lines, a truncated file) and retrying a failed
snapshot from its file."""

from __future__ import annotations

import gzip
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import pytest

from conveyor import JobState
from conveyor.commerce import store
from conveyor.commerce.shoptet import pipelines, snapshots
from conveyor.commerce.shoptet.client import ShoptetClient
from conveyor.commerce.store import ExecutionStatus, SnapshotStatus
from conveyor.commerce.store.schema import customers, orders, products
from tests.commerce.shoptet.test_pipelines import (
    SHOP,
    Rig,
    database,
    forwarding_webhooks,
    rig,
    running_shop,
    sqlite_rig,
)

__all__ = ["rig", "sqlite_rig"]  # fixtures shared with test_pipelines


def snapshot(rig: Rig, kind: str = "orders") -> tuple[int, Any]:
    """Request a snapshot, run the worker; (execution id, the finished execution)."""
    execution_id = pipelines.request_snapshot(rig.app, rig.shop.id, kind)
    rig.work()
    return execution_id, pipelines.get_execution(rig.app, execution_id)


def test_an_orders_snapshot_is_downloaded_verified_and_imported_with_progress(rig: Rig) -> None:
    with forwarding_webhooks(rig, events=("job:finished",)):
        execution_id, execution = snapshot(rig)

    assert execution.status is ExecutionStatus.COMPLETED and execution.trigger == "manual"
    assert execution.counts.read == execution.counts.created == SHOP["orders"] == rig.count(orders)
    file = pipelines.snapshot_file_of(rig.app, execution_id)
    assert file is not None and file.status is SnapshotStatus.IMPORTED
    path = Path(file.path)
    assert path == rig.data_dir / "shoptet" / str(rig.shop.id) / f"orders-{file.remote_job_id}.jsonl.gz"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == file.sha256 and path.stat().st_size == file.size
    job = rig.app.get_job(execution.job_id or 0)
    assert job.progress is not None
    assert (job.progress["done"], job.progress["total"], job.progress["message"]) == (SHOP["orders"],) * 2 + ("orders",)


@pytest.mark.parametrize("kind, table", [("products", products), ("customers", customers)])
def test_products_and_customers_snapshots_import_every_record(sqlite_rig: Rig, kind: str, table: Any) -> None:
    with forwarding_webhooks(sqlite_rig, events=("job:finished",)):
        _, execution = snapshot(sqlite_rig, kind)

    assert execution.status is ExecutionStatus.COMPLETED
    assert execution.counts.created == SHOP[kind] == sqlite_rig.count(table)


def test_malformed_snapshot_lines_are_reported_with_line_and_code_and_the_rest_is_imported(tmp_path: Path) -> None:
    with running_shop(f"sqlite:///{tmp_path / 'c.db'}", tmp_path, malformed_rate=0.1) as rig:
        data = rig.sim.data
        broken = {data.order_code(i) for i in range(SHOP["orders"]) if data.malformation("orders", i, 0.1)}
        with forwarding_webhooks(rig, events=("job:finished",)):
            execution_id, execution = snapshot(rig)

        assert execution.status is ExecutionStatus.COMPLETED
        assert execution.counts.failed == len(broken) > 0
        assert execution.counts.created == SHOP["orders"] - len(broken) == rig.count(orders)
        errors = pipelines.execution_errors(rig.app, execution_id, limit=1000)
        assert len(errors) == len(broken)
        assert all(e.reason.startswith("line ") for e in errors)
        assert any("missing field" in e.reason for e in errors) and any("invalid JSON" in e.reason for e in errors)
        # Every code that can still be read from a broken line is named; the simulator cuts invalid-JSON
        # lines two thirds of the way in, after the code.
        assert {e.record_code for e in errors} <= broken | {None}
        assert {e.record_code for e in errors if e.record_code} == broken


def test_a_truncated_snapshot_is_an_error_the_file_is_kept_and_nothing_is_imported(
    sqlite_rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    truncate_downloads(monkeypatch)
    with forwarding_webhooks(sqlite_rig, events=("job:finished",)):
        execution_id, execution = snapshot(sqlite_rig)

    assert execution.status is ExecutionStatus.ERROR
    assert execution.error is not None and "damaged" in execution.error
    file = pipelines.snapshot_file_of(sqlite_rig.app, execution_id)
    assert file is not None and file.status is SnapshotStatus.FAILED and "kept for inspection" in (file.error or "")
    assert Path(file.path).is_file()
    assert sqlite_rig.count(orders) == 0 and execution.counts.read == 0
    assert sqlite_rig.app.get_job(execution.job_id or 0).state is JobState.DISCARDED  # one attempt: retry on purpose


def test_retrying_a_damaged_snapshot_downloads_it_again(sqlite_rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    undo = truncate_downloads(monkeypatch)
    with forwarding_webhooks(sqlite_rig, events=("job:finished",)):
        failed_id, _ = snapshot(sqlite_rig)
        undo()
        downloads = count_downloads(monkeypatch)
        jobs_before = sqlite_rig.sim.stats["jobs_submitted"]

        retry_id = pipelines.retry_snapshot(sqlite_rig.app, failed_id)
        sqlite_rig.work()

    retried = pipelines.get_execution(sqlite_rig.app, retry_id)
    assert retried.status is ExecutionStatus.COMPLETED and retried.trigger == "retry"
    assert retried.counts.created == SHOP["orders"]
    assert len(downloads) == 1 and sqlite_rig.sim.stats["jobs_submitted"] == jobs_before  # same export, no new one


def test_retrying_a_snapshot_whose_file_is_intact_imports_it_without_downloading(
    sqlite_rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_import(conn: Any, shop_id: int, records: Any) -> Any:
        raise RuntimeError("database went away")

    monkeypatch.setitem(snapshots._IMPORTERS, "orders", failing_import)
    with forwarding_webhooks(sqlite_rig, events=("job:finished",)):
        failed_id, failed = snapshot(sqlite_rig)
    assert failed.status is ExecutionStatus.ERROR and "database went away" in (failed.error or "")
    monkeypatch.undo()
    downloads = count_downloads(monkeypatch)
    requests_before = sqlite_rig.sim.stats["requests"]

    retry_id = pipelines.retry_snapshot(sqlite_rig.app, failed_id)
    sqlite_rig.work()

    retried = pipelines.get_execution(sqlite_rig.app, retry_id)
    assert retried.status is ExecutionStatus.COMPLETED
    assert retried.counts.created == SHOP["orders"] == sqlite_rig.count(orders)
    assert downloads == [] and sqlite_rig.sim.stats["requests"] == requests_before
    file = pipelines.snapshot_file_of(sqlite_rig.app, retry_id)
    assert file is not None and file.status is SnapshotStatus.IMPORTED


def test_only_a_failed_snapshot_can_be_retried(sqlite_rig: Rig) -> None:
    done = sqlite_rig.run()
    with pytest.raises(pipelines.SnapshotNotRetryableError, match="not a snapshot"):
        pipelines.retry_snapshot(sqlite_rig.app, done.id)
    with forwarding_webhooks(sqlite_rig, events=("job:finished",)):
        execution_id, _ = snapshot(sqlite_rig, "customers")
    with pytest.raises(pipelines.SnapshotNotRetryableError, match="is completed"):
        pipelines.retry_snapshot(sqlite_rig.app, execution_id)


def test_the_job_finished_webhook_ends_the_wait_instead_of_the_next_poll(tmp_path: Path) -> None:
    slow_polls = {"snapshot_first_poll": 30.0}
    with running_shop(f"sqlite:///{tmp_path / 'c.db'}", tmp_path, pack_options=slow_polls, job_delay=0.3) as rig:
        with forwarding_webhooks(rig, events=("job:finished",)) as webhooks:
            started = time.monotonic()
            _, execution = snapshot(rig)
            took = time.monotonic() - started

        assert execution.status is ExecutionStatus.COMPLETED
        assert took < 10  # not the 30 s pause before the first poll
        (job,) = rig.sim.jobs.values()
        assert job.polls == 0  # the one poll came after the webhook: none was spent on an unfinished job
        assert [r.event for r in webhooks.results] == ["job:finished"]


def test_without_the_job_finished_webhook_shoptet_refuses_and_the_execution_says_what_to_do(sqlite_rig: Rig) -> None:
    _, execution = snapshot(sqlite_rig)

    assert execution.status is ExecutionStatus.ERROR
    assert execution.error is not None and "conveyor shoptet shops update acme --webhook-url" in execution.error


def test_a_snapshot_still_being_built_after_its_polls_snoozes_and_keeps_its_export(tmp_path: Path) -> None:
    with running_shop(f"sqlite:///{tmp_path / 'c.db'}", tmp_path, pack_options={"snapshot_first_poll": 0.01},
                      job_delay=60.0) as rig:  # fmt: skip
        rig.api("POST", "/api/webhooks", json={"data": [{"event": "job:finished", "url": "http://127.0.0.1:9/"}]})
        execution_id, execution = snapshot(rig)

        assert execution.status is ExecutionStatus.RUNNING
        job = rig.app.get_job(execution.job_id or 0)
        assert job.state is JobState.SCHEDULED and job.attempt == 0 and job.scheduled_at > time.time() + 30
        (remote,) = rig.sim.jobs.values()
        assert remote.polls == snapshots.POLLS_PER_RUN < 10  # Shoptet's limit is never reached
        with rig.app.driver.read() as conn:
            pending = json.loads(store.get_cursor(conn, rig.shop.id, "snapshot.orders.pending") or "{}")
        assert pending == {**pending, "execution_id": execution_id, "job_id": remote.job_id, "polls": 8}


def test_snapshots_work_on_postgres_too(tmp_path: Path) -> None:
    with database("postgres", tmp_path) as url, running_shop(url, tmp_path, malformed_rate=0.05) as rig:
        with forwarding_webhooks(rig, events=("job:finished",)):
            _, execution = snapshot(rig)
        assert execution.status is ExecutionStatus.COMPLETED
        assert execution.counts.created + execution.counts.failed == SHOP["orders"] == execution.counts.read
        assert rig.count(orders) == execution.counts.created


# ---------------------------------------------------------------------------------------------- helpers
def truncate_downloads(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Make every download stop half way, as a proxy that cut the body short would leave it (the hash is
    of the bytes received, so the file is "intact" as received but not a whole gzip stream)."""
    original = ShoptetClient.download_result

    def cut(self: ShoptetClient, url: str, dest: Any) -> tuple[Path, str, int]:
        path, _, _ = original(self, url, dest)
        data = path.read_bytes()[: path.stat().st_size // 2]
        path.write_bytes(data)
        with gzip.open(path, "rb") as stream, pytest.raises(EOFError):  # damaged the way the test means
            stream.read()
        return path, hashlib.sha256(data).hexdigest(), len(data)

    monkeypatch.setattr(ShoptetClient, "download_result", cut)
    return lambda: monkeypatch.setattr(ShoptetClient, "download_result", original)


def count_downloads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    original = ShoptetClient.download_result

    def counted(self: ShoptetClient, url: str, dest: Any) -> tuple[Path, str, int]:
        calls.append(url)
        return original(self, url, dest)

    monkeypatch.setattr(ShoptetClient, "download_result", counted)
    return calls
