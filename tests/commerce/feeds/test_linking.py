"""Linking supplier items to catalogue items: by SKU (trimmed, case-insensitive), then by a unique EAN;
ambiguous and unmatched items are recorded, not guessed; a manual unlink is never re-linked; links keep
the supplier's code, so a later SKU change does not silently re-link. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from conveyor import Conveyor
from conveyor.commerce.feeds import pipelines
from conveyor.commerce.store import catalog
from conveyor.commerce.store import feeds as feed_store
from conveyor.commerce.store import links as link_store
from conveyor.commerce.store.feeds import SupplierOffer
from tests.conftest import pg_database

EAN_A = "8594000000013"
EAN_B = "8594000000020"


def ean14(ean: str) -> str:
    return ean.zfill(14)


@pytest.fixture(params=["sqlite", "postgres"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Conveyor]:
    def make(url: str) -> Conveyor:
        app = Conveyor(url)
        pipelines.install(app, data_dir=tmp_path / "data", schedules=False, local_roots=["/dev"])
        app.migrate()
        return app

    if request.param == "sqlite":
        app = make(f"sqlite:///{tmp_path / 'c.db'}")
        yield app
        app.close()
    else:
        with pg_database() as url:
            app = make(url)
            yield app
            app.close()


def offer(code: str, *, sku: str | None = None, ean: str | None = None) -> SupplierOffer:
    return SupplierOffer(code, sku, ean, "Zboží", None, Decimal(3), True, 2, Decimal("10.50"))


def supplier_with(app: Conveyor, *offers: SupplierOffer) -> tuple[int, dict[str, int]]:
    """A supplier whose feed listed ``offers`` (stored directly); (supplier id, item id by code)."""
    feed, task = pipelines.add_feed(
        app, pipelines.add_supplier(app, "acme", "ACME").code, "acme", source="/dev/null", mappings={"sku": "a"},
        schedule=None,
    )  # fmt: skip
    with app.transaction() as conn:
        feed_store.upsert_supplier_items(conn, feed.supplier_id, task.id, 0, list(offers))
        items = feed_store.list_supplier_items(conn, supplier_id=feed.supplier_id)
    return feed.supplier_id, {i.supplier_code: i.id for i in items}


def catalogue(app: Conveyor, sku: str, ean: str | None = None) -> int:
    with app.transaction() as conn:
        return catalog.create_item(conn, sku=sku, name=f"Položka {sku}", ean=ean).id


def link_now(app: Conveyor, supplier_id: int) -> dict[str, int]:
    pipelines.request_linking(app, supplier_id)
    app.work(["integrations"], processes=0, stop_when_empty=True, sleep=0.02)
    return pipelines.link_summary(app, supplier_id)


def item(app: Conveyor, supplier_item_id: int) -> feed_store.SupplierItem:
    with app.read_transaction() as conn:
        return feed_store.get_supplier_item(conn, supplier_item_id)


def link_of(app: Conveyor, supplier_item_id: int) -> link_store.ItemLink | None:
    with app.read_transaction() as conn:
        return link_store.get_link(conn, supplier_item_id)


def test_items_link_by_sku_trimmed_and_case_insensitive_before_ean(app: Conveyor) -> None:
    by_sku = catalogue(app, "ABC-1", EAN_B)
    other = catalogue(app, "XYZ-9", EAN_A)
    supplier_id, ids = supplier_with(app, offer(" abc-1 ", sku=" abc-1 ", ean=ean14(EAN_A)))

    summary = link_now(app, supplier_id)

    found = link_of(app, ids[" abc-1 "])
    assert found is not None and found.item_id == by_sku and found.method == "sku" and found.item_id != other
    assert found.supplier_code == " abc-1 " and summary["linked"] == 1


def test_items_without_a_sku_match_link_by_a_unique_ean(app: Conveyor) -> None:
    target = catalogue(app, "C-1", EAN_A)
    supplier_id, ids = supplier_with(app, offer("SUP-1", sku="SUP-1", ean=ean14(EAN_A)))

    link_now(app, supplier_id)

    found = link_of(app, ids["SUP-1"])
    assert found is not None and found.item_id == target and found.method == "ean"
    assert item(app, ids["SUP-1"]).link_status == "linked"


def test_an_ean_shared_by_several_items_is_ambiguous_with_its_candidates(app: Conveyor) -> None:
    first, second = catalogue(app, "C-1", EAN_A), catalogue(app, "C-2", EAN_A)
    supplier_id, ids = supplier_with(app, offer(ean14(EAN_A), ean=ean14(EAN_A)))

    summary = link_now(app, supplier_id)

    stored = item(app, ids[ean14(EAN_A)])
    assert stored.link_status == "ambiguous" and json.loads(stored.link_note or "") == [first, second]
    assert link_of(app, stored.id) is None and summary["ambiguous"] == 1
    assert [i.id for i in pipelines.review(app, supplier=supplier_id)] == [stored.id]


def test_items_matching_nothing_are_unmatched_with_the_reason(app: Conveyor) -> None:
    catalogue(app, "C-1", EAN_A)
    supplier_id, ids = supplier_with(app, offer("NOPE", sku="NOPE", ean=ean14(EAN_B)))

    link_now(app, supplier_id)

    stored = item(app, ids["NOPE"])
    assert stored.link_status == "unmatched" and stored.link_note == link_store.NO_MATCH


def test_a_manual_unlink_is_never_linked_again_automatically(app: Conveyor) -> None:
    catalogue(app, "ABC-1")
    supplier_id, ids = supplier_with(app, offer("ABC-1", sku="ABC-1"))
    link_now(app, supplier_id)

    assert pipelines.unlink(app, ids["ABC-1"]) is True
    link_now(app, supplier_id)

    assert link_of(app, ids["ABC-1"]) is None and item(app, ids["ABC-1"]).link_status == "unlinked"


def test_a_manual_link_replaces_the_automatic_one(app: Conveyor) -> None:
    catalogue(app, "ABC-1")
    chosen = catalogue(app, "ABC-2")
    supplier_id, ids = supplier_with(app, offer("ABC-1", sku="ABC-1"))
    link_now(app, supplier_id)

    made = pipelines.link(app, ids["ABC-1"], chosen)

    found = link_of(app, ids["ABC-1"])
    assert found is not None and found.item_id == chosen == made.item_id and found.method == "manual"


def test_a_link_stays_when_the_catalogue_sku_changes_later(app: Conveyor) -> None:
    from conveyor.commerce.store.schema import catalog_items

    linked = catalogue(app, "ABC-1")
    supplier_id, ids = supplier_with(app, offer("ABC-1", sku="ABC-1"))
    link_now(app, supplier_id)
    with app.transaction() as conn:
        conn.execute(
            catalog_items.update().where(catalog_items.c.id == linked).values(sku="ABC-1-OLD", sku_key="abc-1-old")
        )
    catalogue(app, "ABC-1")  # a new item now carries the old SKU

    link_now(app, supplier_id)

    found = link_of(app, ids["ABC-1"])
    assert found is not None and found.item_id == linked


def test_linking_a_missing_item_says_which(app: Conveyor) -> None:
    _, ids = supplier_with(app, offer("ABC-1", sku="ABC-1"))
    with pytest.raises(pipelines.FeedNotFoundError, match="catalogue item 999 not found"):
        pipelines.link(app, ids["ABC-1"], 999)
    with pytest.raises(pipelines.FeedNotFoundError, match="supplier item 999 not found"):
        pipelines.unlink(app, 999)


def test_a_pass_with_nothing_to_change_writes_nothing_and_reports_the_same(app: Conveyor) -> None:
    catalogue(app, "C-1", EAN_A)
    supplier_id, ids = supplier_with(app, offer("NOPE", sku="NOPE", ean=ean14(EAN_B)), offer("C-1", sku="c-1"))
    link_now(app, supplier_id)
    before = item(app, ids["NOPE"])

    with app.read_transaction() as conn:
        settled = link_store.settled(conn, supplier_id=supplier_id)
    assert settled is not None and settled.unmatched == 1 and settled.by_sku == 0  # checked without the write lock
    link_now(app, supplier_id)

    assert item(app, ids["NOPE"]) == before  # not rewritten
    assert link_of(app, ids["C-1"]) is not None


def test_an_item_that_gains_a_match_is_linked_on_the_next_pass(app: Conveyor) -> None:
    supplier_id, ids = supplier_with(app, offer("LATE", sku="LATE"))
    link_now(app, supplier_id)
    assert item(app, ids["LATE"]).link_status == "unmatched"

    catalogue(app, "late")
    with app.read_transaction() as conn:
        assert link_store.settled(conn, supplier_id=supplier_id) is None  # there is work now
    link_now(app, supplier_id)

    assert item(app, ids["LATE"]).link_status == "linked"
