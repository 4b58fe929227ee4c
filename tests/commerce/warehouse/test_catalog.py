"""The catalogue on both databases: SKU identity (trimmed, case-insensitive), EANs validated and normalised,
keyset search, CSV import (per-line errors, file-level errors that write nothing) and export, and the
import from the master shop's variants."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Connection

from conveyor import Conveyor
from conveyor.commerce import store
from conveyor.commerce.store import catalog
from conveyor.commerce.store.schema import products, variants
from conveyor.commerce.warehouse.errors import CatalogImportError, DuplicateSkuError, InvalidItemError
from tests.commerce.warehouse.conftest import item, table_counts

EAN = "5901234123457"  # a valid EAN-13
EAN_14 = "05901234123457"


def test_an_item_is_created_with_its_ean_normalised(app: Conveyor) -> None:
    with app.transaction() as conn:
        made = catalog.create_item(
            conn, sku="  ABC-1 ", name=" Hrnek modrý ", ean="590-1234-123457", purchase_price="89,90", vat_rate="21"
        )
    assert (made.sku, made.name, made.ean, made.unit) == ("ABC-1", "Hrnek modrý", EAN_14, "ks")
    assert (made.purchase_price, made.vat_rate) == (Decimal("89.90"), Decimal("21.00"))
    with app.read_transaction() as conn:
        assert catalog.find_by_sku(conn, "abc-1") == made
        assert catalog.find_by_ean(conn, EAN) == [made]


def test_a_sku_differing_only_in_case_or_spaces_is_a_duplicate(app: Conveyor) -> None:
    with app.transaction() as conn:
        item(conn, "ABC-1")
    with pytest.raises(DuplicateSkuError) as err, app.transaction() as conn:
        catalog.create_item(conn, sku="abc-1 ", name="Other")
    assert str(err.value) == (
        "SKU 'abc-1' is already used by item 1 ('ABC-1') (SKUs compare trimmed and case-insensitively)"
    )
    with pytest.raises(DuplicateSkuError) as err, app.transaction() as conn:
        catalog.create_item(conn, sku="ABC-1", name="Other")
    assert str(err.value) == "SKU 'ABC-1' is already used by item 1 ('ABC-1')"
    with app.read_transaction() as conn:
        assert table_counts(conn)["commerce_catalog_items"] == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"ean": "5901234123458"}, "ean: EAN 5901234123458: bad check digit 8 (expected 7)"),
        ({"ean": "12345"}, "ean: EAN 12345: 5 digits; a GTIN has 8, 12, 13 or 14"),
        ({"sku": "  "}, "sku: the SKU is empty"),
        ({"name": ""}, "name: the name is empty"),
        ({"purchase_price": "-1"}, "purchase_price: -1 is negative"),
        ({"purchase_price": "12.345"}, "purchase_price: 12.345 has more than 2 decimal places"),
        ({"vat_rate": "abc"}, "vat_rate: 'abc' is not a number"),
    ],
)
def test_bad_fields_are_refused_with_the_field_named(app: Conveyor, fields: dict[str, str], message: str) -> None:
    values = {"sku": "X-1", "name": "Thing", **fields}
    with pytest.raises(InvalidItemError) as err, app.transaction() as conn:
        catalog.create_item(conn, **values)  # type: ignore[arg-type]
    assert str(err.value) == message
    with app.read_transaction() as conn:
        assert table_counts(conn)["commerce_catalog_items"] == 0


def test_update_and_deactivate(app: Conveyor) -> None:
    with app.transaction() as conn:
        first = item(conn, "A", ean=EAN)
        item(conn, "B")
        changed = catalog.update_item(conn, first, name="Renamed", ean=None, purchase_price="1.5")
        assert (changed.name, changed.ean, changed.purchase_price) == ("Renamed", None, Decimal("1.50"))
        with pytest.raises(DuplicateSkuError):
            catalog.update_item(conn, first, sku="b")
        catalog.deactivate_item(conn, first)
        assert [i.sku for i in catalog.search(conn)] == ["B"]
        assert [i.sku for i in catalog.search(conn, include_inactive=True)] == ["A", "B"]


def test_search_by_sku_prefix_ean_or_name_in_keyset_pages(app: Conveyor) -> None:
    with app.transaction() as conn:
        for n in range(1, 8):
            item(conn, f"MUG-{n}", f"Hrnek {n}")
        item(conn, "PLATE-1", "Talíř 100% porcelán", ean=EAN)
        page1 = catalog.search(conn, sku_prefix="mug-", limit=3)
        page2 = catalog.search(conn, sku_prefix="mug-", limit=3, after_id=page1[-1].id)
        page3 = catalog.search(conn, sku_prefix="mug-", limit=3, after_id=page2[-1].id)
        assert [i.sku for i in page1 + page2 + page3] == [f"MUG-{n}" for n in range(1, 8)]
        assert [i.sku for i in catalog.search(conn, ean=EAN_14)] == ["PLATE-1"]
        assert [i.sku for i in catalog.search(conn, name="100%")] == ["PLATE-1"]  # % is literal, not a wildcard
        assert [i.sku for i in catalog.search(conn, text=EAN)] == ["PLATE-1"]
        assert [i.sku for i in catalog.search(conn, text="hrnek 3")] == ["MUG-3"]


def _import(app: Conveyor, content: str | bytes) -> catalog.CatalogImport:
    stream = io.BytesIO(content if isinstance(content, bytes) else content.encode())
    with app.transaction() as conn:
        return catalog.import_csv(conn, stream)


def test_csv_import_upserts_by_sku_and_reports_each_bad_line(app: Conveyor) -> None:
    with app.transaction() as conn:
        item(conn, "OLD-1", "Old name")
        item(conn, "SAME-1", "Same", unit="ks")
    content = (
        "\ufeffSKU;EAN;Name;Unit;Purchase_Price;VAT_rate;colour\n"
        f"NEW-1;{EAN};Hrnek modrý;ks;89,90;21;blue\n"
        "old-1;;New name;ks;;;\n"
        "SAME-1;;Same;ks;;;\n"
        "BAD-1;5901234123458;Bad EAN;ks;;;\n"
        ";;No SKU;ks;;;\n"
        "BAD-2;;Bad price;ks;abc;;\n"
        "NEW-2;;;ks;;;\n"
        "\n"
        "NEW-3;;Trojka;kg;1.5;12;x\n"
    )
    result = _import(app, content.encode("utf-8"))
    assert (result.created, result.updated, result.unchanged, result.failed) == (2, 1, 1, 4)
    assert [str(e) for e in result.errors] == [
        "line 5 (BAD-1): ean: EAN 5901234123458: bad check digit 8 (expected 7)",
        "line 6: sku: the SKU is empty",
        "line 7 (BAD-2): purchase_price: 'abc' is not a number",
        "line 8 (NEW-2): name: the name is empty",
    ]
    assert result.ignored_columns == ["colour"]
    with app.read_transaction() as conn:
        new = catalog.get_by_sku(conn, "NEW-1")
        assert (new.ean, new.name, new.purchase_price, new.vat_rate) == (EAN_14, "Hrnek modrý", Decimal("89.90"), 21)
        old = catalog.get_by_sku(conn, "OLD-1")
        assert (old.sku, old.name) == ("OLD-1", "New name")  # matched case-insensitively, spelling kept
        assert catalog.get_by_sku(conn, "NEW-3").unit == "kg"
        assert catalog.find_by_sku(conn, "BAD-1") is None


def test_csv_import_sniffs_a_comma_and_the_last_duplicate_line_wins(app: Conveyor) -> None:
    result = _import(app, 'sku,name,purchase_price\nA-1,First,"1,50"\nA-1,Second,2\nB-1,Bee,3\n')
    assert (result.created, result.updated, result.failed) == (2, 1, 0)
    with app.read_transaction() as conn:
        assert catalog.get_by_sku(conn, "A-1").name == "Second"
        assert catalog.get_by_sku(conn, "A-1").purchase_price == Decimal("2.00")


def test_a_file_without_a_sku_column_fails_and_writes_nothing(app: Conveyor) -> None:
    with pytest.raises(CatalogImportError) as err:
        _import(app, "code;name\nA;Mug\n")
    assert str(err.value) == (
        "the file has no 'sku' column (its columns: 'code', 'name'; "
        "expected sku, ean, name, unit, purchase_price, vat_rate)"
    )
    with app.read_transaction() as conn:
        assert table_counts(conn)["commerce_catalog_items"] == 0


def test_a_file_that_is_not_utf8_fails_and_writes_nothing(app: Conveyor) -> None:
    good = "".join(f"S-{n};Item {n}\n" for n in range(1200))  # more than one chunk before the bad byte
    with pytest.raises(CatalogImportError, match="the file is not UTF-8 text"):
        _import(app, ("sku;name\n" + good).encode() + "Ž-1;Žluť\n".encode("cp1250"))
    with app.read_transaction() as conn:
        assert table_counts(conn)["commerce_catalog_items"] == 0


def test_export_writes_what_import_reads(app: Conveyor, tmp_path: Path) -> None:
    with app.transaction() as conn:
        item(conn, "A;1", "Semi; colon", ean=EAN, purchase_price="10.5", vat_rate="21")
        item(conn, "B", 'Quote "x"')
    path = tmp_path / "catalog.csv"
    with app.read_transaction() as conn, path.open("w", encoding="utf-8", newline="") as out:
        assert catalog.export_csv(conn, out) == 2
    assert path.read_text().splitlines()[0] == "sku;ean;name;unit;purchase_price;vat_rate"
    with app.transaction() as conn:
        again = catalog.import_csv(conn, path)
    assert (again.created, again.updated, again.unchanged, again.failed) == (0, 0, 2, 0)


def _shop_with_variants(conn: Connection, rows: list[dict[str, object]]) -> int:
    shop = store.create_shop(
        conn, store.CredentialCipher(store.generate_key()), platform="shoptet", name="acme",
        base_url="https://acme.example", credentials={"token": "t"}, is_master=True,
    )  # fmt: skip
    product_id = conn.execute(
        products.insert()
        .values(shop_id=shop.id, guid="g-1", name="Hrnek", content_hash="x", imported_at=0, updated_at=0, source="{}")
        .returning(products.c.id)
    ).scalar_one()
    for row in rows:
        conn.execute(
            variants.insert().values(
                shop_id=shop.id, product_id=product_id, content_hash="x", imported_at=0, updated_at=0, **row
            )
        )
    return shop.id


def test_import_from_the_master_shop_fills_the_catalogue_from_its_variants(app: Conveyor) -> None:
    with app.transaction() as conn:
        item(conn, "MUG-RED", "Old", purchase_price="5")
        shop_id = _shop_with_variants(
            conn,
            [
                {"code": "MUG-RED", "ean": EAN, "name": "červený", "unit": "ks", "vat_rate": Decimal("21")},
                {"code": "MUG-BLUE", "ean": None, "name": None, "unit": None, "vat_rate": None},
                {"code": "MUG-BAD", "ean": "5901234123458", "name": "x", "unit": "ks", "vat_rate": None},
            ],
        )
        result = catalog.import_from_shop(conn, shop_id)
    assert (result.created, result.updated, result.failed) == (1, 1, 1)
    assert [str(e) for e in result.errors] == [
        "line 3 (MUG-BAD): ean: EAN 5901234123458: bad check digit 8 (expected 7)"
    ]
    with app.read_transaction() as conn:
        red = catalog.get_by_sku(conn, "MUG-RED")
        assert (red.name, red.ean, red.purchase_price) == ("Hrnek (červený)", EAN_14, Decimal("5.00"))
        assert catalog.get_by_sku(conn, "MUG-BLUE").name == "Hrnek"
    with app.transaction() as conn:
        again = catalog.import_from_shop(conn, shop_id)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)


def test_import_from_an_unknown_shop_is_refused(app: Conveyor) -> None:
    with pytest.raises(store.ShopNotFoundError), app.transaction() as conn:
        catalog.import_from_shop(conn, 99)
