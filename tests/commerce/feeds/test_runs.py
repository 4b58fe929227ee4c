"""Feed import runs end to end against the feed simulator over HTTP: a full run in chunk jobs, skipping
unchanged and identical content, zeroing only after a complete run, limit and dry-run, and the bad inputs
that fail a run (each with the user's message in the execution's error and nothing half-written)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor import ConfigurationError
from conveyor.commerce.feeds import pipelines
from conveyor.commerce.feeds.simulator import SimulatorConfig
from conveyor.commerce.feeds.simulator.server import serve_in_thread
from conveyor.commerce.store import ExecutionStatus
from tests.commerce.feeds.feedrig import CSV_MAPPING, HEUREKA_MAPPING, FeedRig, feed_rig
from tests.conftest import pg_database

ITEMS = 250


@pytest.fixture(params=["sqlite", "postgres"])
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FeedRig]:
    if request.param == "sqlite":
        with feed_rig(f"sqlite:///{tmp_path / 'c.db'}", tmp_path / "data") as r:
            yield r
    else:
        with pg_database() as url, feed_rig(url, tmp_path / "data") as r:
            yield r


@pytest.fixture
def sqlite_rig(tmp_path: Path) -> Iterator[FeedRig]:
    with feed_rig(f"sqlite:///{tmp_path / 'c.db'}", tmp_path / "data") as r:
        yield r


def test_a_full_run_imports_every_row_in_chunk_jobs_and_saves_the_validators(rig: FeedRig) -> None:
    task_id = rig.add_feed(rig.url())
    run = rig.run()

    assert run.execution.status is ExecutionStatus.COMPLETED, run.execution.error
    assert run.outcome == "imported" and run.execution.pipeline == "feeds.import"
    assert run.execution.shop_id is None and run.execution.feed_task_id == task_id
    counts = run.execution.counts
    assert counts.read == ITEMS and counts.created == ITEMS and counts.failed == 0
    assert rig.count() == ITEMS
    assert run.run.chunks == run.run.chunks_done == 3 and run.run.batch_id is not None
    [task] = pipelines.feed_tasks(rig.app, "stock")
    assert task.etag and task.last_sha256 == run.run.sha256
    assert task.last_headers and "kód" in task.last_headers
    item = next(iter(rig.items().values()))
    assert item.ean is not None and item.name and item.purchase_price is not None
    # Every run is a row of the pipeline log; a linking run follows a successful import.
    assert any(r.execution.status is ExecutionStatus.COMPLETED for r in pipelines.list_runs(rig.app, "stock"))


def test_an_unchanged_feed_is_skipped_by_its_etag_and_writes_nothing(sqlite_rig: FeedRig) -> None:
    sqlite_rig.add_feed(sqlite_rig.url())
    sqlite_rig.run()
    before = sqlite_rig.items()

    again = sqlite_rig.run()

    assert again.execution.status is ExecutionStatus.COMPLETED and again.outcome == "unchanged"
    assert again.execution.counts.read == 0 and again.run.chunks == 0
    assert sqlite_rig.items() == before


def test_identical_content_served_without_etag_writes_zero_rows(sqlite_rig: FeedRig) -> None:
    sqlite_rig.add_feed(sqlite_rig.url(etag="0"))
    sqlite_rig.run()
    before = sqlite_rig.items()

    again = sqlite_rig.run()

    assert again.outcome == "identical" and again.execution.counts.read == 0
    assert sqlite_rig.items() == before


def test_a_changed_feed_updates_only_the_changed_items(sqlite_rig: FeedRig) -> None:
    import httpx

    sqlite_rig.add_feed(sqlite_rig.url())
    sqlite_rig.run()
    httpx.post(f"{sqlite_rig.base_url}/_sim/advance", params={"generations": 5})

    again = sqlite_rig.run()

    counts = again.execution.counts
    assert again.outcome == "imported"
    assert counts.updated > 0 and counts.unchanged > 0 and counts.created == 0
    assert counts.updated + counts.unchanged == ITEMS and again.run.zeroed == 0


def test_heureka_xml_imports_like_csv(sqlite_rig: FeedRig) -> None:
    sqlite_rig.add_feed(sqlite_rig.url("heureka.xml.gz"), HEUREKA_MAPPING)
    run = sqlite_rig.run()
    assert run.execution.status is ExecutionStatus.COMPLETED, run.execution.error
    assert run.execution.counts.created == ITEMS == sqlite_rig.count()


def _switch_source(rig: FeedRig, source: str) -> None:
    [task] = pipelines.feed_tasks(rig.app, "stock")
    pipelines.update_task(rig.app, task.id, source=source)


def test_items_the_feed_no_longer_lists_are_zeroed_after_a_complete_run(rig: FeedRig) -> None:
    rig.add_feed(rig.url())
    rig.run()
    before = rig.items()
    with serve_in_thread(SimulatorConfig(items=200, seed=7)) as smaller:
        _switch_source(rig, f"{smaller}/feeds/velkoobchod/stock.csv")
        run = rig.run()

    assert run.execution.status is ExecutionStatus.COMPLETED
    items = rig.items()
    dropped = [i for i in items.values() if i.seen_execution_id != run.execution.id]
    assert len(dropped) == ITEMS - 200
    assert all(i.stock_quantity == 0 and i.in_stock is False for i in dropped)
    had_stock = [i for i in dropped if before[i.supplier_code].in_stock is not False]
    assert run.run.zeroed == len(had_stock) > 0  # those already at 0 were left alone


def test_a_run_cut_short_leaves_every_supplier_stock_as_it_was(rig: FeedRig) -> None:
    rig.add_feed(rig.url())
    rig.run()
    before = rig.items()
    _switch_source(rig, rig.url(fault="truncated"))

    run = rig.run()

    assert run.execution.status is ExecutionStatus.ERROR and run.outcome == "failed"
    assert run.execution.error is not None and "cut short" in run.execution.error
    assert rig.items() == before
    [task] = pipelines.feed_tasks(rig.app, "stock")
    assert task.last_sha256 is None  # the source changed; nothing of the failed run was remembered


def test_a_chunk_that_fails_fails_the_run_without_zeroing_or_saving_validators(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conveyor.commerce.feeds import runs

    with feed_rig(f"sqlite:///{tmp_path / 'c.db'}", tmp_path / "data", chunk_attempts=1) as rig:
        rig.add_feed(rig.url())
        rig.run()
        before = rig.items()
        with serve_in_thread(SimulatorConfig(items=200, seed=7, change_share=0.5)) as smaller:
            _switch_source(rig, f"{smaller}/feeds/velkoobchod/stock.csv")
            requests_post(f"{smaller}/_sim/advance")
            real = runs.import_chunk

            def failing(pack, execution_id, index, offset, count):  # type: ignore[no-untyped-def]
                if index == 1:
                    raise RuntimeError("database went away")
                return real(pack, execution_id, index, offset, count)

            monkeypatch.setattr(runs, "import_chunk", failing)
            run = rig.run()

        assert run.execution.status is ExecutionStatus.ERROR
        assert run.execution.error is not None and "1 of 2 chunk jobs failed" in run.execution.error
        assert "nothing was zeroed" in run.execution.error
        items = rig.items()
        unlisted = [code for code, item in items.items() if item.seen_execution_id != run.execution.id]
        assert len(unlisted) >= ITEMS - 200
        assert all(items[code] == before[code] for code in unlisted)  # not zeroed: exactly as before
        assert run.run.zeroed == 0
        [after] = pipelines.feed_tasks(rig.app, "stock")
        assert after.last_sha256 is None and after.etag is None


def requests_post(url: str) -> None:
    import httpx

    httpx.post(url).raise_for_status()


def test_limit_imports_the_first_rows_and_never_zeroes(sqlite_rig: FeedRig) -> None:
    sqlite_rig.add_feed(sqlite_rig.url())
    sqlite_rig.run()
    before = sqlite_rig.items()
    run = sqlite_rig.run(limit=20)

    assert run.execution.status is ExecutionStatus.COMPLETED and run.run.row_limit == 20
    assert run.execution.counts.read == 20 and run.execution.counts.unchanged == 20 and run.run.zeroed == 0
    stock = {code: (i.stock_quantity, i.in_stock) for code, i in sqlite_rig.items().items()}
    assert stock == {code: (i.stock_quantity, i.in_stock) for code, i in before.items()}


def test_a_limited_first_run_writes_only_its_rows(sqlite_rig: FeedRig) -> None:
    sqlite_rig.add_feed(sqlite_rig.url())
    run = sqlite_rig.run(limit=20)
    assert run.execution.counts.created == 20 == sqlite_rig.count()
    [task] = pipelines.feed_tasks(sqlite_rig.app, "stock")
    assert task.last_sha256 is None  # a limited run is a test: the next full run imports everything


def test_a_dry_run_parses_and_reports_but_writes_no_supplier_item(sqlite_rig: FeedRig) -> None:
    sqlite_rig.add_feed(sqlite_rig.url(fault="malformed"))
    run = sqlite_rig.run(dry_run=True)

    assert run.execution.status is ExecutionStatus.COMPLETED and run.outcome == "dry_run"
    assert run.execution.counts.read == ITEMS and run.execution.counts.failed > 0
    assert run.run.details["mapped"] + run.run.details["errors"] == ITEMS
    assert sqlite_rig.errors(run.execution.id)
    assert sqlite_rig.count() == 0


# ---------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "fault, message",
    [
        ("401", "asks for credentials (HTTP 401"),
        ("html200", "HTML page"),
        ("garbage", "binary"),
        ("500", "HTTP 500"),
    ],
)
def test_a_feed_fault_fails_the_run_with_the_users_message_and_writes_nothing(
    sqlite_rig: FeedRig, fault: str, message: str
) -> None:
    sqlite_rig.add_feed(sqlite_rig.url(fault=fault))
    run = sqlite_rig.run()

    assert run.execution.status is ExecutionStatus.ERROR, run
    assert run.execution.error is not None and message in run.execution.error
    assert sqlite_rig.count() == 0 and run.execution.counts.read == 0


def test_a_404_says_there_is_no_feed_at_the_url(sqlite_rig: FeedRig) -> None:
    sqlite_rig.add_feed(f"{sqlite_rig.base_url}/nothing-here.csv")
    run = sqlite_rig.run()
    assert run.execution.error is not None and "HTTP 404" in run.execution.error
    assert sqlite_rig.count() == 0


def test_an_unreachable_url_says_it_cannot_connect(sqlite_rig: FeedRig) -> None:
    sqlite_rig.add_feed("http://127.0.0.1:9/feed.csv")
    run = sqlite_rig.run()
    assert run.execution.status is ExecutionStatus.ERROR
    assert run.execution.error is not None and "connect" in run.execution.error
    assert sqlite_rig.count() == 0


def test_a_missing_mapped_column_fails_before_any_row_and_keeps_the_headers(sqlite_rig: FeedRig) -> None:
    sqlite_rig.add_feed(sqlite_rig.url(), {**CSV_MAPPING, "stock_quantity": "stav"})
    run = sqlite_rig.run()

    assert run.execution.status is ExecutionStatus.ERROR
    assert run.execution.error is not None and "'stav'" in run.execution.error and "kód" in run.execution.error
    assert sqlite_rig.count() == 0
    [task] = pipelines.feed_tasks(sqlite_rig.app, "stock")
    assert task.last_headers is not None and "skladem" in task.last_headers  # shown in the mapping editor


def test_duplicate_codes_are_reported_and_the_last_row_wins(sqlite_rig: FeedRig, tmp_path: Path) -> None:
    feed = tmp_path / "dups.csv"
    rows = ["kód;ean;skladem"] + [f"SKU-{n};;{n}" for n in range(150)] + ["SKU-3;;77", "SKU-120;;88", "SKU-3;;99"]
    feed.write_text("\n".join(rows) + "\n", encoding="cp1250")
    sqlite_rig.add_feed(str(feed), {"sku": "kód", "ean": "ean", "stock_quantity": "skladem"})

    run = sqlite_rig.run()

    assert run.execution.status is ExecutionStatus.COMPLETED, run.execution.error
    items = sqlite_rig.items()
    assert len(items) == 150
    assert items["SKU-3"].stock_quantity == 99 and items["SKU-120"].stock_quantity == 88
    reasons = {e.line: e.reason for e in sqlite_rig.errors(run.execution.id)}
    assert set(reasons) == {5, 152, 122}  # the rows that lost: SKU-3 twice, SKU-120 once
    assert "line 154 lists it again and wins" in reasons[5]
    assert run.execution.counts.failed == 3 and run.execution.counts.created == 150


def test_bad_rows_are_stored_with_line_and_reason_and_the_rest_imports(sqlite_rig: FeedRig) -> None:
    sqlite_rig.add_feed(sqlite_rig.url(fault="malformed"))
    run = sqlite_rig.run()

    assert run.execution.status is ExecutionStatus.COMPLETED
    errors = sqlite_rig.errors(run.execution.id)
    assert errors and all(e.line is not None and e.line > 1 for e in errors)
    assert run.execution.counts.failed > 0
    assert run.execution.counts.created + run.execution.counts.failed >= ITEMS - 5


@pytest.mark.parametrize("source", ["/etc/passwd", "file:///etc/passwd", "{root}/../secret.csv", "ftp://x/feed.csv"])
def test_a_local_source_outside_the_allowed_directories_is_refused_and_no_feed_is_added(
    sqlite_rig: FeedRig, source: str
) -> None:
    root = pipelines.pack_of(sqlite_rig.app).local_roots[0]
    with pytest.raises(ConfigurationError) as refused:
        sqlite_rig.add_feed(source.format(root=root))
    assert ("local feed files must lie in" in str(refused.value)) or ("unsupported feed source" in str(refused.value))
    assert pipelines.list_feeds(sqlite_rig.app) == []  # nothing half-written


def test_a_source_changed_behind_the_apps_back_is_refused_at_download(sqlite_rig: FeedRig) -> None:
    from conveyor.commerce.store.schema import feed_tasks

    task_id = sqlite_rig.add_feed(f"{sqlite_rig.base_url}/feeds/velkoobchod/stock.csv")
    with sqlite_rig.app.transaction() as conn:
        conn.execute(feed_tasks.update().where(feed_tasks.c.id == task_id).values(source="/etc/passwd"))

    run = sqlite_rig.run()

    assert run.execution.status is ExecutionStatus.ERROR
    assert "local feed files must lie in" in (run.execution.error or "")
    assert sqlite_rig.count() == 0
