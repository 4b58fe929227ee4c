"""Sync state: cursors, webhook events recorded once, pipeline executions and their errors, snapshot files."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from conveyor import InvalidStateError
from conveyor.commerce.store import (
    EXECUTION_TRANSITIONS,
    ExecutionNotFoundError,
    ExecutionStatus,
    ImportCounts,
    RecordError,
    Shop,
    SnapshotStatus,
    add_counts,
    delete_cursor,
    find_snapshot_file,
    finish_execution,
    get_cursor,
    get_execution,
    get_snapshot_file,
    import_orders,
    latest_snapshot_file,
    list_errors,
    list_executions,
    mark_running,
    mark_snapshot_file,
    prune_webhook_events,
    record_errors,
    record_snapshot_file,
    record_webhook_event,
    set_cursor,
    start_execution,
)
from conveyor.engine import clock
from tests.commerce.store import factories


def test_a_cursor_is_none_until_set_then_moves(engine: Engine, shop: Shop) -> None:
    with engine.begin() as conn:
        assert get_cursor(conn, shop.id, "orders.change_time") is None
        set_cursor(conn, shop.id, "orders.change_time", "2024-03-01T10:00:00+0100")
        set_cursor(conn, shop.id, "orders.change_time", "2024-03-02T10:00:00+0100")
        set_cursor(conn, shop.id, "products.change_time", "p")
        assert get_cursor(conn, shop.id, "orders.change_time") == "2024-03-02T10:00:00+0100"
        assert delete_cursor(conn, shop.id, "orders.change_time")
        assert get_cursor(conn, shop.id, "orders.change_time") is None
        assert get_cursor(conn, shop.id, "products.change_time") == "p"


def test_a_repeated_webhook_delivery_is_recorded_once(engine: Engine, shop: Shop) -> None:
    event = ("order:update", "2024000057", "2019-01-08T15:13:39+0100")
    with engine.begin() as conn:
        first = record_webhook_event(conn, shop.id, *event)
        again = record_webhook_event(conn, shop.id, *event)
        later = record_webhook_event(conn, shop.id, "order:update", "2024000057", "2019-01-08T15:20:00+0100")
        other = record_webhook_event(conn, shop.id, "order:paid", "2024000057", "2019-01-08T15:13:39+0100")
    assert first is not None and again is None
    assert later is not None and other is not None and len({first, later, other}) == 3


def test_the_same_moment_in_another_offset_is_the_same_event(engine: Engine, shop: Shop) -> None:
    with engine.begin() as conn:
        assert record_webhook_event(conn, shop.id, "order:create", "1", "2019-01-08T15:13:39+0100") is not None
        assert record_webhook_event(conn, shop.id, "order:create", "1", "2019-01-08T14:13:39+0000") is None


def test_old_webhook_events_are_pruned(engine: Engine, shop: Shop) -> None:
    with engine.begin() as conn:
        record_webhook_event(conn, shop.id, "order:create", "1", "2019-01-08T15:13:39+0100", received_at=100.0)
        record_webhook_event(conn, shop.id, "order:create", "2", "2019-01-08T15:13:39+0100", received_at=200.0)
        assert prune_webhook_events(conn, received_before=150.0) == 1
        assert record_webhook_event(conn, shop.id, "order:create", "2", "2019-01-08T15:13:39+0100") is None


def test_an_execution_runs_from_queued_to_completed_with_its_counts(engine: Engine, shop: Shop) -> None:
    clock.set_clock(lambda: 1000.0)
    with engine.begin() as conn:
        execution_id = start_execution(conn, shop.id, "orders.snapshot", "schedule", queued=True)
        assert get_execution(conn, execution_id).status is ExecutionStatus.QUEUED
        clock.set_clock(lambda: 1005.0)
        mark_running(conn, execution_id, job_id=42)
        result = import_orders(conn, shop.id, [factories.order("A"), factories.order("B"), {"code": "C"}])
        add_counts(conn, execution_id, result.counts)
        add_counts(conn, execution_id, ImportCounts(read=1, unchanged=1))
        record_errors(conn, execution_id, result.errors)
        clock.set_clock(lambda: 1010.0)
        finish_execution(conn, execution_id)
        done = get_execution(conn, execution_id)
    assert (done.status, done.job_id, done.queued_at, done.started_at, done.finished_at, done.error) == (
        ExecutionStatus.COMPLETED,
        42,
        1000.0,
        1005.0,
        1010.0,
        None,
    )
    assert done.counts == ImportCounts(read=4, created=2, updated=0, unchanged=1, failed=1)


def test_an_execution_that_fails_keeps_its_error_and_counts(engine: Engine, shop: Shop) -> None:
    with engine.begin() as conn:
        execution_id = start_execution(conn, shop.id, "orders.changes", "webhook")
        finish_execution(conn, execution_id, counts=ImportCounts(read=3, created=1), error="Shoptet answered 503")
        done = get_execution(conn, execution_id)
    assert (done.status, done.error, done.counts.read, done.counts.created) == (
        ExecutionStatus.ERROR,
        "Shoptet answered 503",
        3,
        1,
    )


def test_a_finished_execution_cannot_change_again(engine: Engine, shop: Shop) -> None:
    with engine.begin() as conn:
        execution_id = start_execution(conn, shop.id, "orders.changes", "manual")
        finish_execution(conn, execution_id)
        with pytest.raises(InvalidStateError, match=f"execution {execution_id} is completed: it cannot become error"):
            finish_execution(conn, execution_id, error="late")
        with pytest.raises(InvalidStateError, match="cannot add counts"):
            add_counts(conn, execution_id, ImportCounts(read=1))
        with pytest.raises(ExecutionNotFoundError, match="execution 999 not found"):
            finish_execution(conn, 999)
    assert EXECUTION_TRANSITIONS[ExecutionStatus.COMPLETED] == frozenset()


def test_executions_are_listed_newest_first_page_by_page(engine: Engine, shop: Shop) -> None:
    with engine.begin() as conn:
        ids = [start_execution(conn, shop.id, "orders" if n % 2 else "products", "schedule") for n in range(7)]
        page1 = list_executions(conn, shop.id, limit=3)
        page2 = list_executions(conn, shop.id, before_id=page1[-1].id, limit=3)
        page3 = list_executions(conn, shop.id, before_id=page2[-1].id, limit=3)
        only_orders = list_executions(conn, shop.id, pipeline="orders")
        other_shop = list_executions(conn, shop.id + 1)
    assert [e.id for e in page1 + page2 + page3] == ids[::-1]
    assert [e.id for e in only_orders] == ids[1::2][::-1]
    assert other_shop == []


def test_record_errors_are_kept_per_execution_in_order(engine: Engine, shop: Shop) -> None:
    errors = [RecordError(f"2024{n:06d}", f"missing field 'items' ({n})", kind="order") for n in range(5)]
    errors.append(RecordError(None, "missing field 'code'", kind="order", position=9))
    with engine.begin() as conn:
        execution_id = start_execution(conn, shop.id, "orders.snapshot", "manual")
        assert record_errors(conn, execution_id, errors) == 6
        first = list_errors(conn, execution_id, limit=4)
        rest = list_errors(conn, execution_id, after_id=first[-1].id)
    assert [(e.record_code, e.reason) for e in first][:1] == [("2024000000", "missing field 'items' (0)")]
    assert [(e.record_code, e.reason) for e in rest] == [
        ("2024000004", "missing field 'items' (4)"),
        (None, "order #9 (no code): missing field 'code'"),
    ]


def test_a_failed_snapshot_is_retried_from_the_recorded_file(engine: Engine, shop: Shop) -> None:
    with engine.begin() as conn:
        file = record_snapshot_file(
            conn, shop.id, "orders", "/var/conveyor/snap/1.jsonl.gz", sha256="ab" * 32, size=1234, remote_job_id="j1"
        )
        assert file.status is SnapshotStatus.DOWNLOADED
        mark_snapshot_file(conn, file.id, SnapshotStatus.FAILED, error="disk full")
        retry = latest_snapshot_file(conn, shop.id, "orders", status=SnapshotStatus.FAILED)
        assert retry is not None and (retry.id, retry.path, retry.error) == (file.id, file.path, "disk full")
        assert find_snapshot_file(conn, shop.id, "j1") == retry  # a repeated job:finished finds the file
        mark_snapshot_file(conn, file.id, SnapshotStatus.IMPORTED)
        done = get_snapshot_file(conn, file.id)
        assert (done.status, done.error, done.imported_at is not None) == (SnapshotStatus.IMPORTED, None, True)
        with pytest.raises(InvalidStateError, match="is imported: it cannot become failed"):
            mark_snapshot_file(conn, file.id, SnapshotStatus.FAILED)


def test_downloading_a_jobs_file_again_replaces_the_record(engine: Engine, shop: Shop) -> None:
    with engine.begin() as conn:
        first = record_snapshot_file(conn, shop.id, "orders", "/a", sha256="a" * 64, size=1, remote_job_id="j1")
        mark_snapshot_file(conn, first.id, SnapshotStatus.FAILED, error="corrupt")
        again = record_snapshot_file(conn, shop.id, "orders", "/b", sha256="b" * 64, size=2, remote_job_id="j1")
        unrelated = record_snapshot_file(conn, shop.id, "orders", "/c", sha256="c" * 64, size=3)
    assert (again.id, again.path, again.status, again.error) == (first.id, "/b", SnapshotStatus.DOWNLOADED, None)
    assert unrelated.id != first.id
