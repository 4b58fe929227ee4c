"""Mapping feed rows: the columns a mapping names, and the value rules for real suppliers' texts."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from conveyor.commerce.feeds.errors import FeedMappingError, RowError
from conveyor.commerce.feeds.parsing import (
    DEFAULT_STOCK_VALUES,
    FeedMapping,
    MappedRow,
    check_columns,
    load_mapping,
    map_row,
    map_rows,
    open_feed,
    parse_delivery_days,
    parse_price,
    parse_quantity,
    preview,
)
from tests.commerce.feeds.parsing.files import CZECH, ean13, write

TODAY = date(2026, 11, 28)
MAPPING = FeedMapping(
    sku="kód",
    ean="EAN",
    stock_quantity="sklad",
    delivery_days="dodání",
    purchase_price="cena",
    name="název",
    manufacturer_code="kód výrobce",
)
STOCK = MAPPING.mapper.stock_rules
DELIVERY = MAPPING.mapper.delivery_rules


def row(**values: str) -> dict[str, str]:
    base = {"kód": "A-1", "EAN": "", "sklad": "", "dodání": "", "cena": "", "název": "", "kód výrobce": ""}
    base.update({k.replace("_", " "): v for k, v in values.items()})
    return base


# --- the mapping itself ----------------------------------------------------------------------------------------


def test_a_mapping_needs_sku_or_ean() -> None:
    with pytest.raises(ValidationError, match=r"map a column to sku or to ean"):
        FeedMapping(stock_quantity="stock")
    assert FeedMapping(ean="EAN").sku is None


def test_load_mapping_turns_every_problem_into_one_message() -> None:
    with pytest.raises(FeedMappingError) as caught:
        load_mapping({"stock_quantity": "stock", "stock_values": {"hodně": "plenty"}, "colour": "x"})
    message = str(caught.value)
    assert message.startswith("the feed mapping is not valid: ")
    assert "colour: Extra inputs are not permitted" in message
    assert "stock_values.hodně" in message


def test_missing_mapped_column_lists_the_feeds_columns_and_suggests_a_near_name() -> None:
    mapping = FeedMapping(sku="code", ean="ean", stock_quantity="Stock")
    with pytest.raises(FeedMappingError) as caught:
        check_columns(mapping, ["kod", "EAN", "stock", "cena"])
    assert str(caught.value) == (
        "the feed has no columns 'code' (for sku), 'ean' (for ean) — did you mean 'EAN'?, 'Stock' (for "
        "stock_quantity) — did you mean 'stock'?; the feed's columns are: 'kod', 'EAN', 'stock', 'cena'"
    )


def test_missing_column_is_found_before_any_row_of_a_real_feed(tmp_path: Path) -> None:
    path = write(tmp_path / "feed.csv", "kod;ean;mnozstvi\nA1;;5\n", "cp1250")
    with open_feed(path) as feed, pytest.raises(FeedMappingError) as caught:
        check_columns(FeedMapping(sku="kod", stock_quantity="sklad"), feed.headers)
    assert str(caught.value) == (
        "the feed has no column 'sklad' (for stock_quantity); the feed's columns are: 'kod', 'ean', 'mnozstvi'"
    )


def test_a_mapping_that_fits_passes() -> None:
    check_columns(MAPPING, list(row()))


# --- stock quantity ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12", (12, True, False)),
        (" 0 ", (0, False, False)),
        ("", (None, None, False)),
        ("1 234", (1234, True, False)),
        ("5 ks", (5, True, False)),
        ("5 szt.", (5, True, False)),
        ("2,5", (2, True, False)),
        (">5", (5, True, True)),
        ("> 5", (5, True, True)),
        (">=10", (10, True, True)),
        ("5+", (5, True, True)),
        ("více než 50", (50, True, True)),
        ("skladem", (None, True, False)),
        ("Na  Skladě", (None, True, False)),
        ("dostępny", (None, True, False)),
        ("in stock", (None, True, False)),
        ("na dotaz", (0, False, False)),
        ("on request", (0, False, False)),
        ("out_of_stock", (0, False, False)),
    ],
)
def test_stock_values(text: str, expected: tuple[int | None, bool | None, bool]) -> None:
    assert parse_quantity(text, STOCK) == expected


def test_non_numeric_stock_says_how_to_add_a_rule() -> None:
    with pytest.raises(ValueError) as caught:
        parse_quantity("hodně", STOCK)
    assert str(caught.value) == (
        "stock quantity 'hodně' is neither a number nor a known text: add it to the mapping's stock_values "
        '(e.g. {"hodně": "in_stock"}, "out_of_stock", "unknown" or a number)'
    )


def test_an_implausibly_large_stock_is_refused() -> None:
    with pytest.raises(
        ValueError, match=r"^stock quantity '8590000000001' is implausibly large \(the most is 999,999,999\)$"
    ):
        parse_quantity("8590000000001", STOCK)
    assert parse_quantity("999999999", STOCK)[0] == 999_999_999


def test_a_far_off_delivery_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^delivery days '99999' is implausibly far off \(the most is 3,650 days\)$"):
        parse_delivery_days("99999", DELIVERY, TODAY)


def test_negative_stock_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^stock quantity '-3' is negative$"):
        parse_quantity("-3", STOCK)


def test_a_mappings_own_stock_values_extend_and_override_the_defaults() -> None:
    mapping = FeedMapping(sku="sku", stock_quantity="s", stock_values={"Hodně": 100, "skladem": 3, "?": "unknown"})
    rules = mapping.mapper.stock_rules
    assert parse_quantity("hodně", rules) == (100, True, False)
    assert parse_quantity("skladem", rules) == (3, True, False)
    assert parse_quantity("?", rules) == (None, None, False)
    assert parse_quantity("na dotaz", rules) == (0, False, False)


def test_defaults_can_be_switched_off() -> None:
    mapping = FeedMapping(sku="sku", stock_quantity="s", default_values=False)
    with pytest.raises(ValueError, match=r"neither a number nor a known text"):
        parse_quantity("skladem", mapping.mapper.stock_rules)


@given(st.integers(0, 999_999_999), st.sampled_from(["{}", " {} ", "{} ks", "{}+", ">{}", "> {}", ">={}"]))
def test_any_non_negative_count_in_any_spelling_reads_as_that_count(count: int, spelling: str) -> None:
    quantity, in_stock, at_least = parse_quantity(spelling.format(count), STOCK)
    assert quantity == count
    assert in_stock is (count > 0)
    assert at_least is ("+" in spelling or ">" in spelling)


@given(st.integers(1, 10**9))
def test_any_negative_count_is_refused(count: int) -> None:
    with pytest.raises(ValueError, match=r"is negative"):
        parse_quantity(f"-{count}", STOCK)


@given(st.text(max_size=30))
def test_any_text_is_a_quantity_or_a_clear_refusal(text: str) -> None:
    try:
        quantity, in_stock, _ = parse_quantity(text, STOCK)
    except ValueError as exc:
        assert "stock quantity" in str(exc)
    else:
        assert quantity is None or quantity >= 0
        assert in_stock in (None, True, False)


def test_every_default_stock_text_is_known() -> None:
    for text in DEFAULT_STOCK_VALUES:
        parse_quantity(text.upper(), STOCK)


# --- delivery days -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("3", 3),
        ("", None),
        ("skladem", 0),
        ("na dotaz", None),
        ("3 dny", 3),
        ("5 dní", 5),
        ("2-3 dny", 3),
        ("2 – 4 pracovní dny", 4),
        ("1 týden", 7),
        ("2 weeks", 14),
        ("48 h", 2),
        ("1,5", 2),
        ("2026-12-03", 5),
        ("2026-12-03 13:00", 5),
        ("3.12.2026", 5),
        ("20261203", 5),
        ("2020-01-01", 0),
    ],
)
def test_delivery_values(text: str, expected: int | None) -> None:
    assert parse_delivery_days(text, DELIVERY, TODAY) == expected


def test_unknown_delivery_text_says_how_to_add_a_rule() -> None:
    with pytest.raises(ValueError) as caught:
        parse_delivery_days("brzy", DELIVERY, TODAY)
    assert str(caught.value) == (
        "delivery days 'brzy' is neither a number of days, a date nor a known text: add it to the mapping's "
        'delivery_values (e.g. {"brzy": 3} or null for unknown)'
    )


def test_impossible_date_and_negative_days_are_refused() -> None:
    with pytest.raises(ValueError, match=r"^delivery date '2026-13-40' is not a valid date$"):
        parse_delivery_days("2026-13-40", DELIVERY, TODAY)
    with pytest.raises(ValueError, match=r"^delivery days '-2' is negative$"):
        parse_delivery_days("-2", DELIVERY, TODAY)


# --- purchase price ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("123.50", "123.50"),
        ("123,50", "123.50"),
        ("1 234,50", "1234.50"),
        ("1\u00a0234,50 Kč", "1234.50"),
        ("1.234,50", "1234.50"),
        ("1,234.50", "1234.50"),
        ("1'234.50 CHF", "1234.50"),
        ("€ 12,5", "12.5"),
        ("12,-", "12"),
        ("99 zł", "99"),
        ("1.234.567", "1234567"),
        ("0", "0"),
    ],
)
def test_prices(text: str, expected: str) -> None:
    assert parse_price(text) == Decimal(expected)


@pytest.mark.parametrize("text", ["abc", "12 (was 15)", "1e5", "NaN", "12,50,3.4", "1.23.4", "1,2,3"])
def test_text_that_is_not_a_price_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(f'purchase price {text!r} is not a number')}$"):
        parse_price(text)


def test_negative_price_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^purchase price '-5,00 Kč' is negative$"):
        parse_price("-5,00 Kč")


def test_empty_price_is_not_given() -> None:
    assert parse_price("  ") is None


# --- whole rows ----------------------------------------------------------------------------------------------


def test_a_full_row_is_mapped() -> None:
    mapped = map_row(
        MAPPING,
        7,
        row(EAN=f" {ean13(5)} ", sklad=">5", dodání="2-3 dny", cena="1 234,50", název=f" {CZECH} ", kód_výrobce="M-1"),
        today=TODAY,
    )
    assert mapped == MappedRow(
        line=7,
        sku="A-1",
        ean="0" + ean13(5),
        quantity=5,
        in_stock=True,
        at_least=True,
        delivery_days=3,
        purchase_price=Decimal("1234.50"),
        name=CZECH,
        manufacturer_code="M-1",
        warnings=(),
    )


def test_bad_ean_on_a_row_with_a_sku_drops_only_the_ean_with_a_warning() -> None:
    mapped = map_row(MAPPING, 4, row(EAN="5901234123458", sklad="3"))
    assert (mapped.sku, mapped.ean, mapped.quantity) == ("A-1", None, 3)
    assert [str(w) for w in mapped.warnings] == [
        "line 4 (A-1): EAN 5901234123458: bad check digit 8 (expected 7); the EAN is ignored, the row links by SKU"
    ]


def test_bad_ean_on_a_row_without_a_sku_is_a_row_error() -> None:
    with pytest.raises(RowError) as caught:
        map_row(FeedMapping(ean="EAN"), 9, {"EAN": "5901234123458"})
    assert str(caught.value) == "line 9 (5901234123458): EAN 5901234123458: bad check digit 8 (expected 7)"
    assert (caught.value.line, caught.value.code) == (9, "5901234123458")


def test_an_all_zero_ean_is_no_ean() -> None:
    assert map_row(MAPPING, 2, row(EAN="0000000000000")).ean is None


def test_a_row_error_lists_every_problem_of_the_row() -> None:
    with pytest.raises(RowError) as caught:
        map_row(MAPPING, 12, row(sklad="-3", cena="zdarma", dodání="brzy"))
    assert caught.value.reason == (
        "stock quantity '-3' is negative; delivery days 'brzy' is neither a number of days, a date nor a known "
        'text: add it to the mapping\'s delivery_values (e.g. {"brzy": 3} or null for unknown); purchase price '
        "'zdarma' is not a number"
    )
    assert str(caught.value).startswith("line 12 (A-1): ")


def test_a_row_without_sku_and_ean_cannot_be_linked() -> None:
    with pytest.raises(RowError, match=r"^line 3: no SKU and no EAN: the row cannot be linked to the catalogue$"):
        map_row(MAPPING, 3, row(kód="  "))


def test_a_column_missing_from_an_xml_item_counts_as_empty() -> None:
    mapped = map_row(FeedMapping(sku="ITEM_ID", stock_quantity="STOCK"), 1, {"ITEM_ID": "X"})
    assert (mapped.sku, mapped.quantity, mapped.in_stock) == ("X", None, None)


def test_delivery_dates_use_the_callers_clock() -> None:
    mapping = FeedMapping(sku="s", delivery_days="d")
    assert map_row(mapping, 2, {"s": "A", "d": "2026-12-01"}, today=date(2026, 11, 28)).delivery_days == 3
    assert map_row(mapping, 2, {"s": "A", "d": "2026-12-01"}, today=date(2026, 11, 30)).delivery_days == 1


def test_a_feed_end_to_end_yields_mapped_rows_and_row_errors_in_order(tmp_path: Path) -> None:
    text = (
        "kód;EAN;název;sklad;dodání;cena\n"
        f"A1;{ean13(1)};{CZECH};skladem;0;10,50\n"
        "A2;5901234123458;Šroub;5+;3 dny;1 234,00\n"
        "A3;;Matice;abc;;1\n"
        "A4;;Podložka;3;;\n"
        ";;bez kódu;1;;\n"
    )
    mapping = FeedMapping(sku="kód", ean="EAN", stock_quantity="sklad", delivery_days="dodání", purchase_price="cena")
    with open_feed(write(tmp_path / "feed.csv", text, "cp1250")) as feed:
        check_columns(mapping, feed.headers)
        results = list(map_rows(mapping, feed.rows(), today=TODAY))
    assert [(r.line, type(r).__name__) for r in results] == [
        (2, "MappedRow"), (3, "MappedRow"), (4, "RowError"), (5, "MappedRow"), (6, "RowError")
    ]  # fmt: skip
    assert isinstance(results[1], MappedRow) and len(results[1].warnings) == 1
    assert str(results[2]).startswith("line 4 (A3): stock quantity 'abc' is neither a number nor a known text")


def test_preview_maps_the_first_rows(tmp_path: Path) -> None:
    path = write(tmp_path / "feed.csv", "kód;sklad\nA1;5\nA2;-1\nA3;7\n", "cp1250")
    shown = preview(path, mapping=FeedMapping(sku="kód", stock_quantity="sklad"), n=2)
    assert shown.mapped is not None
    assert isinstance(shown.mapped[0], MappedRow) and shown.mapped[0].quantity == 5
    assert isinstance(shown.mapped[1], RowError) and shown.mapped[1].reason == "stock quantity '-1' is negative"


def test_preview_with_a_mapping_the_feed_does_not_fit_still_shows_the_feed(tmp_path: Path) -> None:
    path = write(tmp_path / "feed.csv", "kód;sklad\nA1;5\n")
    shown = preview(path, mapping=FeedMapping(sku="sku"))
    assert shown.headers == ["kód", "sklad"]
    assert shown.rows == [(2, {"kód": "A1", "sklad": "5"})]
    assert shown.mapped is None
    assert shown.mapping_error == "the feed has no column 'sku' (for sku); the feed's columns are: 'kód', 'sklad'"


@given(st.decimals(min_value=0, max_value=10**9, places=2), st.sampled_from(["cs", "en", "plain"]))
def test_any_price_written_the_czech_or_english_way_reads_back(price: Decimal, style: str) -> None:
    english = f"{price:,.2f}"
    text = {"cs": english.replace(",", " ").replace(".", ",") + " Kč", "en": english, "plain": f"{price:.2f}"}[style]
    assert parse_price(text) == price
