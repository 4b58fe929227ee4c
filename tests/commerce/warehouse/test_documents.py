"""Stock documents on both databases: receipts, issues, transfers, stock counts and stornos change stock only
when posted, are numbered per type and year, stay immutable once posted, and every refused input leaves
stock, ledger, numbering and drafts exactly as they were."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import text

from conveyor import Conveyor, InvalidStateError, clock
from conveyor.commerce import warehouse
from conveyor.commerce.store import documents, stock
from conveyor.commerce.store.documents import DocStatus, DocType, LineInput
from conveyor.commerce.warehouse.errors import (
    DocumentError,
    InsufficientStockError,
    ItemNotFoundError,
    ReservationError,
    WarehouseError,
)
from tests.commerce.warehouse.conftest import item, levels, receive, table_counts

D = Decimal


@pytest.fixture
def stocked(app: Conveyor) -> Conveyor:
    """Items A, B, C; warehouses MAIN and BRNO; 10 A, 5 B and 2 C received into MAIN."""
    with app.transaction() as conn:
        for sku in ("A", "B", "C"):
            item(conn, sku)
        stock.create_warehouse(conn, "MAIN", "Praha")
        stock.create_warehouse(conn, "BRNO", "Brno")
        receive(conn, "MAIN", ("A", 10), ("B", 5), ("C", 2))
    return app


def test_posting_a_receipt_adds_stock_and_numbers_it_per_type_and_year(app: Conveyor) -> None:
    with app.transaction() as conn:
        item(conn, "A")
        stock.create_warehouse(conn, "MAIN")
        draft = documents.create_document(conn, "pz", "MAIN", [LineInput("A", "2,5", "10.20")], reference="INV-7")
        assert draft.status is DocStatus.DRAFT and draft.number is None
        assert levels(conn) == {}  # a draft changes nothing
        posted = documents.post_document(conn, draft.id)
        second = receive(conn, "MAIN", ("a", 1))
    year = posted.year
    assert posted.number == f"PZ/{year}/00001" and second.number == f"PZ/{year}/00002"
    assert posted.lines[0].quantity == D("2.500") and posted.lines[0].unit_price == D("10.20")
    with app.read_transaction() as conn:
        assert levels(conn) == {("A", "MAIN"): (D("3.500"), D("0.000"))}
        assert stock.verify(conn) == []


def test_number_format_is_configurable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = Conveyor(f"sqlite:///{tmp_path / 'w.db'}")
    warehouse.install(app, number_format="{type}-{seq:03d}/{year}", stock_changed_delay=0)
    app.migrate()
    warehouse.add_item(app, "A", "Mug")
    warehouse.add_warehouse(app, "MAIN")
    doc = warehouse.create_document(app, "PZ", "MAIN", [LineInput("A", 1)], post=True)
    assert doc.number == f"PZ-001/{doc.year}"
    app.close()


def test_a_bad_number_format_is_refused_at_install(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from conveyor import ConfigurationError

    with pytest.raises(ConfigurationError, match="must contain"):
        warehouse.install(Conveyor(f"sqlite:///{tmp_path / 'w.db'}"), number_format="{type}/{year}")
    with pytest.raises(ConfigurationError, match="not valid"):
        warehouse.install(Conveyor(f"sqlite:///{tmp_path / 'x.db'}"), number_format="{type}/{seq}/{month}")


def test_issue_takes_stock_out(stocked: Conveyor) -> None:
    with stocked.transaction() as conn:
        doc = documents.create_document(conn, "WZ", "MAIN", [LineInput("A", 4), LineInput("A", 1)])
        documents.post_document(conn, doc.id)
        assert levels(conn)[("A", "MAIN")] == (D("5.000"), D("0.000"))


def test_transfer_moves_stock_between_warehouses_with_two_ledger_rows(stocked: Conveyor) -> None:
    with stocked.transaction() as conn:
        doc = documents.create_document(conn, "MM", "MAIN", [LineInput("A", 3)], target_warehouse="BRNO")
        documents.post_document(conn, doc.id)
        assert levels(conn)[("A", "MAIN")][0] == D("7.000")
        assert levels(conn)[("A", "BRNO")][0] == D("3.000")
        rows = conn.execute(
            text("SELECT warehouse_id, on_hand_delta FROM commerce_stock_ledger WHERE document_id = :d ORDER BY id"),
            {"d": doc.id},
        ).all()
    assert [(w, D(str(q))) for w, q in rows] == [(1, D("-3")), (2, D("3"))]


def test_transfer_to_the_same_warehouse_is_refused(stocked: Conveyor) -> None:
    with stocked.read_transaction() as conn:
        before = table_counts(conn)
    with pytest.raises(DocumentError) as err, stocked.transaction() as conn:
        documents.create_document(conn, "MM", "MAIN", [LineInput("A", 1)], target_warehouse="main")
    assert str(err.value) == "a transfer (MM) must go to another warehouse, not from MAIN to itself"
    with pytest.raises(DocumentError, match="needs a target warehouse"), stocked.transaction() as conn:
        documents.create_document(conn, "MM", "MAIN", [LineInput("A", 1)])
    with stocked.read_transaction() as conn:
        assert table_counts(conn) == before


def test_stock_count_sets_the_counted_quantity_and_records_the_difference(stocked: Conveyor) -> None:
    with stocked.transaction() as conn:
        count = documents.create_document(conn, "IN", "MAIN", [LineInput("A", 7), LineInput("B", 5), LineInput("C", 0)])
        # Stock moves between counting and posting: the difference is taken at posting time.
        receive(conn, "MAIN", ("A", 1))
        documents.post_document(conn, count.id)
        assert levels(conn)[("A", "MAIN")][0] == D("7.000")
        assert levels(conn)[("B", "MAIN")][0] == D("5.000")
        assert levels(conn)[("C", "MAIN")][0] == D("0.000")
        deltas = conn.execute(
            text("SELECT line_no, on_hand_delta FROM commerce_stock_ledger WHERE document_id = :d ORDER BY line_no"),
            {"d": count.id},
        ).all()
    assert [(n, D(str(q))) for n, q in deltas] == [(1, D("-4")), (3, D("-2"))]  # B unchanged: no row


def test_an_item_twice_on_a_stock_count_is_refused(stocked: Conveyor) -> None:
    with pytest.raises(DocumentError) as err, stocked.transaction() as conn:
        documents.create_document(conn, "IN", "MAIN", [LineInput("A", 1), LineInput("a", 2)])
    assert "line 2 (a): the item is already counted on line 1" in str(err.value)


def test_posting_a_document_whose_third_line_would_go_negative_writes_nothing(stocked: Conveyor) -> None:
    with stocked.transaction() as conn:
        draft = documents.create_document(conn, "WZ", "MAIN", [LineInput("A", 1), LineInput("B", 1), LineInput("C", 3)])
    with stocked.read_transaction() as conn:
        before, stock_before = table_counts(conn), levels(conn)
    with pytest.raises(InsufficientStockError) as err, stocked.transaction() as conn:
        documents.post_document(conn, draft.id)
    assert str(err.value) == (
        f"not enough stock for posting WZ draft #{draft.id}: item C in warehouse MAIN: requested 3, available 2; "
        "nothing was written"
    )
    assert (err.value.sku, err.value.warehouse, err.value.requested, err.value.available) == ("C", "MAIN", 3, 2)
    with stocked.read_transaction() as conn:
        assert table_counts(conn) == before and levels(conn) == stock_before
        assert documents.get_document(conn, draft.id).status is DocStatus.DRAFT
        assert stock.verify(conn) == []
    # The numbering did not move either: the next issue is still number 1.
    with stocked.transaction() as conn:
        assert receive(conn, "MAIN", ("C", 1)).number.endswith("/00002")  # PZ 1 was the fixture's


def test_a_warehouse_that_allows_negative_stock_accepts_the_shortfall(stocked: Conveyor) -> None:
    with stocked.transaction() as conn:
        stock.create_warehouse(conn, "LOOSE", allow_negative=True)
        doc = documents.create_document(conn, "WZ", "LOOSE", [LineInput("A", 2)])
        documents.post_document(conn, doc.id)
        assert levels(conn)[("A", "LOOSE")] == (D("-2.000"), D("0.000"))
        assert stock.verify(conn) == []


def test_reservations_lower_available_and_are_refused_beyond_it(stocked: Conveyor) -> None:
    with stocked.transaction() as conn:
        level = stock.reserve(conn, 1, 1, 8, "ORDER-1")
        assert (level.on_hand, level.reserved, level.available) == (D(10), D(8), D(2))
    with pytest.raises(InsufficientStockError, match="requested 3, available 2"), stocked.transaction() as conn:
        doc = documents.create_document(conn, "WZ", "MAIN", [LineInput("A", 3)])
        documents.post_document(conn, doc.id)
    with (
        pytest.raises(InsufficientStockError, match="reservation ORDER-2: item A in warehouse MAIN"),
        stocked.transaction() as conn,
    ):
        stock.reserve(conn, 1, 1, 3, "ORDER-2")
    with (
        pytest.raises(ReservationError, match="cannot release 9 of item A in warehouse MAIN: only 8 reserved"),
        stocked.transaction() as conn,
    ):
        stock.release(conn, 1, 1, 9, "ORDER-1")
    with stocked.transaction() as conn:
        assert stock.release(conn, 1, 1, 8, "ORDER-1").reserved == 0
        refs = conn.execute(
            text("SELECT reservation_ref FROM commerce_stock_ledger WHERE document_id IS NULL ORDER BY id")
        ).scalars()
        assert list(refs) == ["ORDER-1", "ORDER-1"]
        assert stock.verify(conn) == []


def test_unknown_sku_on_a_line_is_refused_and_no_draft_is_left(stocked: Conveyor) -> None:
    with stocked.read_transaction() as conn:
        before = table_counts(conn)
    with pytest.raises(ItemNotFoundError) as err, stocked.transaction() as conn:
        documents.create_document(conn, "PZ", "MAIN", [LineInput("A", 1), LineInput("NOPE-1", 1)])
    assert str(err.value) == "no catalogue item with SKU 'NOPE-1' (add it: conveyor catalog add)"
    with stocked.read_transaction() as conn:
        assert table_counts(conn) == before


@pytest.mark.parametrize(
    ("doc_type", "quantity", "message"),
    [
        ("WZ", "-1", "line 1 (A): quantity -1 must be greater than zero (to undo a posted document, storno it)"),
        ("PZ", "0", "line 1 (A): quantity 0 must be greater than zero"),
        ("IN", "-2", "line 1 (A): counted quantity -2 is negative"),
        ("PZ", "abc", "line 1 (A): quantity: 'abc' is not a number"),
        ("PZ", "1.0001", "line 1 (A): quantity: 1.0001 has more than 3 decimal places"),
    ],
)
def test_bad_quantities_are_refused(stocked: Conveyor, doc_type: str, quantity: str, message: str) -> None:
    with stocked.read_transaction() as conn:
        before = table_counts(conn)
    with pytest.raises(DocumentError) as err, stocked.transaction() as conn:
        documents.create_document(conn, doc_type, "MAIN", [LineInput("A", quantity)])
    assert str(err.value).startswith(message)
    with stocked.read_transaction() as conn:
        assert table_counts(conn) == before


def test_unknown_document_type_lists_the_types(stocked: Conveyor) -> None:
    with pytest.raises(DocumentError) as err, stocked.transaction() as conn:
        documents.create_document(conn, "XX", "MAIN", [LineInput("A", 1)])
    assert str(err.value) == (
        "unknown document type 'XX'; use one of PZ (receipt), WZ (issue), MM (transfer), IN (stock count)"
    )
    with pytest.raises(DocumentError, match="a storno is made from a posted document"), stocked.transaction() as conn:
        documents.create_document(conn, "ST", "MAIN", [LineInput("A", 1)])


def test_drafts_can_be_edited_and_deleted_but_posted_documents_cannot(stocked: Conveyor) -> None:
    with stocked.transaction() as conn:
        draft = documents.create_document(conn, "WZ", "MAIN", [LineInput("A", 1)])
        edited = documents.update_document(conn, draft.id, lines=[LineInput("B", 2)], note="for Jana")
        assert [(line.sku, line.quantity) for line in edited.lines] == [("B", D(2))] and edited.note == "for Jana"
        posted = documents.post_document(conn, draft.id)
        other = documents.create_document(conn, "WZ", "MAIN", [LineInput("A", 1)])
        documents.delete_document(conn, other.id)
    with pytest.raises(InvalidStateError) as err, stocked.transaction() as conn:
        documents.update_document(conn, draft.id, lines=[LineInput("A", 5)])
    assert str(err.value) == f"document {posted.number} is posted and cannot be edited"
    with pytest.raises(InvalidStateError, match="cannot be deleted"), stocked.transaction() as conn:
        documents.delete_document(conn, draft.id)
    with pytest.raises(InvalidStateError, match="is already posted"), stocked.transaction() as conn:
        documents.post_document(conn, draft.id)
    with stocked.read_transaction() as conn:
        assert [(line.sku, line.quantity) for line in documents.get_document(conn, draft.id).lines] == [("B", D(2))]
        assert levels(conn)[("B", "MAIN")][0] == D(3)


def test_storno_reverses_a_posted_document_once(stocked: Conveyor) -> None:
    with stocked.transaction() as conn:
        doc = documents.create_document(conn, "MM", "MAIN", [LineInput("A", 4)], target_warehouse="BRNO")
        posted = documents.post_document(conn, doc.id)
        storno = documents.storno_document(conn, doc.id, note="wrong truck")
        assert storno.doc_type is DocType.ST and storno.reverses_id == doc.id and storno.reference == posted.number
        assert storno.number is not None and storno.number.startswith("ST/")
        assert [(line.sku, line.quantity) for line in storno.lines] == [("A", D(4))]
        assert documents.get_document(conn, doc.id).cancelled_by_id == storno.id
        assert levels(conn)[("A", "MAIN")][0] == D(10) and levels(conn)[("A", "BRNO")][0] == D(0)
        assert stock.verify(conn) == []
    with pytest.raises(InvalidStateError) as err, stocked.transaction() as conn:
        documents.storno_document(conn, doc.id)
    assert str(err.value) == f"document {posted.number} is already stornoed by {storno.number}"
    with pytest.raises(InvalidStateError, match="a storno cannot be stornoed"), stocked.transaction() as conn:
        documents.storno_document(conn, storno.id)


def test_storno_of_a_receipt_whose_goods_left_is_refused(stocked: Conveyor) -> None:
    with stocked.transaction() as conn:
        receipt = receive(conn, "BRNO", ("B", 2))
        doc = documents.create_document(conn, "WZ", "BRNO", [LineInput("B", 2)])
        documents.post_document(conn, doc.id)
    with (
        pytest.raises(InsufficientStockError, match=f"storno of {receipt.number}: item B in warehouse BRNO"),
        stocked.transaction() as conn,
    ):
        documents.storno_document(conn, receipt.id)
    with stocked.read_transaction() as conn:
        assert documents.get_document(conn, receipt.id).cancelled_by_id is None
        assert documents.list_documents(conn, doc_type="ST") == []


def test_storno_of_a_stock_count_restores_the_previous_quantity(stocked: Conveyor) -> None:
    with stocked.transaction() as conn:
        count = documents.create_document(conn, "IN", "MAIN", [LineInput("A", 3)])
        documents.post_document(conn, count.id)
        documents.storno_document(conn, count.id)
        assert levels(conn)[("A", "MAIN")][0] == D(10)


def test_a_document_without_lines_cannot_be_posted(stocked: Conveyor) -> None:
    with pytest.raises(DocumentError, match="has no lines; add lines before posting"), stocked.transaction() as conn:
        draft = documents.create_document(conn, "PZ", "MAIN")
        documents.post_document(conn, draft.id)


def test_documents_are_listed_by_type_status_and_date_in_keyset_pages(stocked: Conveyor) -> None:
    with stocked.transaction() as conn:
        for _ in range(3):
            receive(conn, "MAIN", ("A", 1))
        documents.create_document(conn, "WZ", "MAIN", [LineInput("A", 1)])
        first = documents.list_documents(conn, doc_type="PZ", limit=2)
        rest = documents.list_documents(conn, doc_type="PZ", after_id=first[-1].id, limit=2)
        assert [d.number[-1] for d in first + rest if d.number] == ["1", "2", "3", "4"]
        assert [d.doc_type for d in documents.list_documents(conn, status="draft")] == [DocType.WZ]
        now = clock.now()
        assert len(documents.list_documents(conn, date_from=now - 60, date_to=now + 60)) == 5
        assert documents.list_documents(conn, date_from=now + 60) == []
        assert documents.find_document(conn, first[0].number or "").id == first[0].id


def test_verify_reports_a_total_that_differs_from_its_ledger(stocked: Conveyor) -> None:
    with stocked.transaction() as conn:
        conn.execute(text("UPDATE commerce_stock_levels SET on_hand = on_hand + 1 WHERE item_id = 2"))
        (difference,) = stock.verify(conn)
    assert (difference.sku, difference.warehouse, difference.on_hand, difference.ledger_on_hand) == (
        "B", "MAIN", D(6), D(5),
    )  # fmt: skip
    assert str(difference) == "item B in MAIN: on hand 6.000 (ledger 5.000), reserved 0.000 (ledger 0.000)"


def test_warehouse_codes_are_unique(app: Conveyor) -> None:
    with app.transaction() as conn:
        stock.create_warehouse(conn, "MAIN")
    with pytest.raises(WarehouseError, match="a warehouse with code 'main' already exists"), app.transaction() as conn:
        stock.create_warehouse(conn, "main")
