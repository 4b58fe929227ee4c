"""CSV feeds: dialects, headers, line numbers, rows of the wrong width, and the line-length limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.commerce.feeds.errors import FeedFormatError, RowError
from conveyor.commerce.feeds.parsing import open_feed
from tests.commerce.feeds.parsing.files import CZECH, good_rows, write


@pytest.mark.parametrize("delimiter", [";", ",", "\t", "|"])
def test_delimiter_is_sniffed(tmp_path: Path, delimiter: str) -> None:
    text = delimiter.join(["sku", "ean", "stock"]) + "\n" + delimiter.join(["A-1", "", "5"]) + "\n"
    with open_feed(write(tmp_path / "feed.csv", text)) as feed:
        assert feed.format == "csv"
        assert feed.dialect is not None and feed.dialect.delimiter == delimiter
        assert feed.headers == ["sku", "ean", "stock"]
        assert good_rows(feed) == [(2, {"sku": "A-1", "ean": "", "stock": "5"})]


def test_a_delimiter_inside_quoted_values_does_not_fool_the_sniffer(tmp_path: Path) -> None:
    text = 'sku;name;stock\nA1;"Šroub, M5, nerez";3\nA2;"Matice, M5";4\n'
    with open_feed(write(tmp_path / "feed.csv", text)) as feed:
        assert feed.dialect is not None and feed.dialect.delimiter == ";"
        assert [row["name"] for _, row in good_rows(feed)] == ["Šroub, M5, nerez", "Matice, M5"]


def test_comma_delimited_prices_with_decimal_commas_stay_in_one_quoted_value(tmp_path: Path) -> None:
    text = 'sku,price\n"A1","1 234,50"\n"A2","12,00"\n'
    with open_feed(write(tmp_path / "feed.csv", text)) as feed:
        assert [row["price"] for _, row in good_rows(feed)] == ["1 234,50", "12,00"]


def test_apostrophe_quoting_is_sniffed(tmp_path: Path) -> None:
    text = "'sku';'name'\n'A1';'Kabel; 3 m'\n"
    with open_feed(write(tmp_path / "feed.csv", text)) as feed:
        assert feed.dialect is not None and feed.dialect.quotechar == "'"
        assert good_rows(feed) == [(2, {"sku": "A1", "name": "Kabel; 3 m"})]


def test_line_numbers_are_physical_lines_even_with_multi_line_values_and_blank_lines(tmp_path: Path) -> None:
    text = 'sku;description\r\nA1;"first line\r\nsecond line"\r\n\r\nA2;plain\r\n'
    with open_feed(write(tmp_path / "feed.csv", text)) as feed:
        rows = good_rows(feed)
    assert [line for line, _ in rows] == [2, 5]
    assert rows[0][1]["description"] == "first line\r\nsecond line"


def test_headers_are_stripped_and_empty_or_repeated_names_made_unique(tmp_path: Path) -> None:
    with open_feed(write(tmp_path / "feed.csv", " sku ;;EAN;EAN\nA1;x;1;2\n")) as feed:
        assert feed.headers == ["sku", "column_2", "EAN", "EAN_2"]


def test_trailing_delimiter_on_every_row_is_harmless(tmp_path: Path) -> None:
    with open_feed(write(tmp_path / "feed.csv", "sku;stock;\nA1;5;\n")) as feed:
        assert feed.headers == ["sku", "stock", "column_3"]
        assert good_rows(feed) == [(2, {"sku": "A1", "stock": "5", "column_3": ""})]
    with open_feed(write(tmp_path / "feed2.csv", "sku;stock\nA1;5;\n")) as feed:
        assert good_rows(feed) == [(2, {"sku": "A1", "stock": "5"})]


def test_row_with_an_unquoted_delimiter_in_a_value_is_a_row_error_and_reading_goes_on(tmp_path: Path) -> None:
    with open_feed(write(tmp_path / "feed.csv", "sku;name;stock\nA1;Šroub; M5;3\nA2;Matice;4\n")) as feed:
        rows = list(feed.rows())
    error = rows[0][1]
    assert isinstance(error, RowError)
    assert str(error) == (
        "line 2: 4 values but the header has 3 columns: a value containing the delimiter ';' without quotes?"
    )
    assert rows[1] == (3, {"sku": "A2", "name": "Matice", "stock": "4"})


def test_row_cut_short_is_a_row_error(tmp_path: Path) -> None:
    with open_feed(write(tmp_path / "feed.csv", "sku;name;stock\nA1;Šroub;3\nA2;Mat")) as feed:
        rows = list(feed.rows())
    assert rows[0] == (2, {"sku": "A1", "name": "Šroub", "stock": "3"})
    assert isinstance(rows[1][1], RowError)
    assert str(rows[1][1]) == "line 3: only 2 of the header's 3 values: the line is cut short?"


def test_a_ten_megabyte_single_line_is_refused_without_reading_it_into_memory(tmp_path: Path) -> None:
    path = tmp_path / "feed.csv"
    with path.open("wb") as out:
        out.write(b"sku;name\n")
        out.write(b"A1;" + b"x" * (10 * 1024 * 1024) + b"\n")
    feed = open_feed(path)
    with feed, pytest.raises(FeedFormatError) as caught:
        list(feed.rows())
    assert str(caught.value) == (
        "line 2 is longer than 1,048,576 bytes: not a CSV feed, or a value broke the quoting "
        "(the limit is max_line_bytes)"
    )


def test_a_ten_megabyte_header_line_is_refused_when_the_feed_is_opened(tmp_path: Path) -> None:
    path = write(tmp_path / "feed.csv", "sku;" + "x" * (10 * 1024 * 1024) + "\nA1;2\n")
    with pytest.raises(FeedFormatError, match=r"^line 1 is longer than 1,048,576 bytes"):
        open_feed(path)


def test_the_line_limit_is_configurable(tmp_path: Path) -> None:
    path = write(tmp_path / "feed.csv", "sku;name\nA1;" + "x" * 200 + "\n")
    with (
        open_feed(path, max_line_bytes=100) as feed,
        pytest.raises(FeedFormatError, match=r"line 2 is longer than 100"),
    ):
        list(feed.rows())


def test_an_unclosed_quote_cannot_swallow_more_than_the_line_limit(tmp_path: Path) -> None:
    path = write(tmp_path / "feed.csv", 'sku;name\nA1;"open quote\n' + "B;x\n" * 100_000)
    with open_feed(path, max_line_bytes=1000) as feed, pytest.raises(FeedFormatError) as caught:
        list(feed.rows())
    assert str(caught.value) == (
        "line 2: a quoted value runs on past line 249, more than 1,000 bytes: a quote that is never closed? "
        "(the limit is max_line_bytes)"
    )


def test_an_unclosed_quote_at_the_end_of_the_file_fails_the_feed(tmp_path: Path) -> None:
    path = write(tmp_path / "feed.csv", 'sku;name\nA1;x\nA2;"open quote\nA3;y\nA4;z\n')
    with open_feed(path) as feed, pytest.raises(FeedFormatError) as caught:
        list(feed.rows())
    assert str(caught.value) == (
        "line 3: a quoted value is never closed (the file ends inside it): the rows after its opening quote "
        "were swallowed, or the download was cut short"
    )


def test_text_after_a_closing_quote_is_a_row_error_and_reading_goes_on(tmp_path: Path) -> None:
    with open_feed(write(tmp_path / "feed.csv", 'sku;name\nA1;"Monitor 24"wide\nA2;ok\n')) as feed:
        rows = list(feed.rows())
    assert isinstance(rows[0][1], RowError)
    assert str(rows[0][1]) == "line 2: the CSV cannot be read here (';' expected after '\"'): fix the quoting"
    assert rows[1] == (3, {"sku": "A2", "name": "ok"})


def test_a_quote_inside_an_unquoted_value_is_just_a_character(tmp_path: Path) -> None:
    with open_feed(write(tmp_path / "feed.csv", 'sku;name\nA1;Monitor 24" wide\n')) as feed:
        assert good_rows(feed) == [(2, {"sku": "A1", "name": 'Monitor 24" wide'})]


def test_nul_bytes_after_the_sample_are_refused_with_their_line(tmp_path: Path) -> None:
    lines = "sku;name\n" + "A;b\n" * 20_000
    path = write(tmp_path / "feed.csv", lines.encode() + b"C;\x00\x00\n")
    with open_feed(path) as feed, pytest.raises(FeedFormatError) as caught:
        list(feed.rows())
    assert str(caught.value) == "line 20002 contains NUL bytes: the file is damaged or not a CSV feed"


def test_rows_can_be_read_again_and_limited(tmp_path: Path) -> None:
    path = write(tmp_path / "feed.csv", "sku\n" + "".join(f"A{i}\n" for i in range(10)))
    with open_feed(path) as feed:
        assert len(list(feed.rows())) == 10
        assert [row for _, row in feed.rows(limit=2)] == [{"sku": "A0"}, {"sku": "A1"}]


def test_a_feed_with_only_a_header_has_no_rows(tmp_path: Path) -> None:
    with open_feed(write(tmp_path / "feed.csv", "sku;stock\n")) as feed:
        assert feed.headers == ["sku", "stock"]
        assert list(feed.rows()) == []


def test_describe_says_how_the_feed_is_read(tmp_path: Path) -> None:
    with open_feed(write(tmp_path / "feed.csv", f"sku;name\nA1;{CZECH}\n", "cp1250")) as feed:
        assert feed.describe() == "CSV, cp1250 (detected), ';' delimited, \" quotes, uncompressed"


def test_closing_the_feed_closes_an_unfinished_iteration(tmp_path: Path) -> None:
    path = write(tmp_path / "feed.csv", "sku\n" + "A\n" * 1000)
    with open_feed(path) as feed:
        rows = feed.rows()
        next(rows)
    with pytest.raises(StopIteration):
        next(rows)


def test_declaring_csv_for_an_xml_feed_says_so(tmp_path: Path) -> None:
    path = write(tmp_path / "feed.xml", "<SHOP><SHOPITEM><ITEM_ID>1</ITEM_ID></SHOPITEM></SHOP>")
    with pytest.raises(FeedFormatError, match=r"^the import task says CSV but the feed is XML"):
        open_feed(path, format="csv")


def test_an_excel_sep_line_names_the_delimiter_and_is_not_the_header(tmp_path: Path) -> None:
    with open_feed(write(tmp_path / "feed.csv", "sep=,\nsku,name\nA1,Šroub; M5\n")) as feed:
        assert feed.headers == ["sku", "name"]
        assert good_rows(feed) == [(3, {"sku": "A1", "name": "Šroub; M5"})]


def test_lines_ending_in_a_carriage_return_only_are_refused(tmp_path: Path) -> None:
    with pytest.raises(FeedFormatError) as caught:
        open_feed(write(tmp_path / "feed.csv", "sku;stock\rA1;5\r"))
    assert str(caught.value) == (
        "the feed's lines end with a carriage return only (an old Mac format): ask the supplier for CRLF or LF "
        "line ends"
    )
