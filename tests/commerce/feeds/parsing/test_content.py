"""What a file is: gzip/zip recognised by their bytes, and pages or binaries that are not feeds refused."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import pytest

from conveyor.commerce.feeds.errors import FeedDownloadError, FeedFormatError
from conveyor.commerce.feeds.parsing import open_feed, preview
from tests.commerce.feeds.parsing.files import CZECH, good_rows, write

CSV = f"sku;name;stock\nA1;{CZECH};5\nA2;Šroub;>5\n"


@pytest.mark.parametrize("name", ["feed.csv.gz", "feed.csv", "download.bin"])
def test_gzip_is_recognised_by_its_bytes_whatever_the_name(tmp_path: Path, name: str) -> None:
    with open_feed(write(tmp_path / name, CSV, "cp1250", compress="gzip")) as feed:
        assert (feed.compression, feed.encoding) == ("gzip", "cp1250")
        assert [row["name"] for _, row in good_rows(feed)] == [CZECH, "Šroub"]


def test_plain_text_named_gz_is_read_as_plain_text(tmp_path: Path) -> None:
    with open_feed(write(tmp_path / "feed.csv.gz", CSV)) as feed:
        assert feed.compression is None
        assert len(good_rows(feed)) == 2


def test_zip_reads_its_first_file_and_says_which(tmp_path: Path) -> None:
    with open_feed(write(tmp_path / "feed.zip", CSV, "cp1250", compress="zip")) as feed:
        assert (feed.compression, feed.archive_member) == ("zip", "export/sklad.csv")
        assert feed.describe().endswith("zip member 'export/sklad.csv'")
        assert [row["sku"] for _, row in good_rows(feed)] == ["A1", "A2"]


def test_truncated_gzip_is_refused_before_any_row(tmp_path: Path) -> None:
    data = gzip.compress(("sku;stock\n" + "".join(f"A{i};{i}\n" for i in range(50_000))).encode())
    path = write(tmp_path / "feed.gz", data[: len(data) // 2])
    with pytest.raises(FeedFormatError) as caught:
        open_feed(path)
    assert str(caught.value) == "the gzip stream ends early: the download was cut short?"


def test_truncated_gzip_read_without_verifying_fails_where_it_ends(tmp_path: Path) -> None:
    data = gzip.compress(("sku;stock\n" + "".join(f"A{i};{i}\n" for i in range(50_000))).encode())
    path = write(tmp_path / "feed.gz", data[: len(data) // 2])
    feed = open_feed(path, verify=False)
    with feed, pytest.raises(FeedFormatError, match=r"^the gzip stream ends early: the download was cut short\?$"):
        list(feed.rows())


def test_damaged_gzip_is_refused(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(CSV.encode() * 100))
    data[-6] ^= 0xFF  # the CRC
    with pytest.raises(FeedFormatError, match=r"^the gzip data is damaged \(CRC check failed"):
        open_feed(write(tmp_path / "feed.gz", bytes(data)))


def test_truncated_zip_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "feed.zip", CSV * 1000, compress="zip")
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(FeedFormatError, match=r"^the zip archive is damaged \(.*\): the download was cut short"):
        open_feed(path)


def test_an_empty_zip_archive_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "feed.zip"
    with zipfile.ZipFile(path, "w"):
        pass
    with pytest.raises(FeedFormatError, match=r"^the zip archive holds no file"):
        open_feed(path)


def test_an_html_page_served_as_the_feed_is_refused_with_its_title(tmp_path: Path) -> None:
    page = "<!DOCTYPE html>\n<html><head><title>Přihlášení | Velkoobchod</title></head><body>…</body></html>"
    with pytest.raises(FeedFormatError) as caught:
        open_feed(write(tmp_path / "feed.csv", page))
    assert str(caught.value) == (
        "the server sent an HTML page, not a feed (its title: 'Přihlášení | Velkoobchod'): check the feed's URL "
        "and credentials in a browser; a login page or an error page is often served with status 200"
    )


@pytest.mark.parametrize(
    "page",
    [
        "<html><body>Error 500</body></html>",
        '  <?xml version="1.0"?>\n<!-- generated -->\n<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0//EN">\n<html>',
        "\ufeff<HTML lang=cs>",
    ],
)
def test_html_is_recognised_in_its_usual_spellings(tmp_path: Path, page: str) -> None:
    with pytest.raises(FeedFormatError, match=r"^the server sent an HTML page, not a feed: check"):
        open_feed(write(tmp_path / "feed", page), format="xml")


def test_gzipped_html_is_refused_too(tmp_path: Path) -> None:
    with pytest.raises(FeedFormatError, match=r"^the server sent an HTML page"):
        open_feed(write(tmp_path / "feed", "<html><title>502 Bad Gateway</title></html>", compress="gzip"))


def test_an_xml_feed_whose_descriptions_contain_html_is_not_mistaken_for_a_page(tmp_path: Path) -> None:
    xml = "<SHOP><SHOPITEM><ITEM_ID>1</ITEM_ID><DESCRIPTION><![CDATA[<html><b>x</b>]]></DESCRIPTION></SHOPITEM></SHOP>"
    with open_feed(write(tmp_path / "feed.xml", xml)) as feed:
        assert good_rows(feed) == [(1, {"ITEM_ID": "1", "DESCRIPTION": "<html><b>x</b>"})]


def test_binary_garbage_is_refused(tmp_path: Path) -> None:
    garbage = bytes((i * 7919 + 13) % 256 for i in range(5000))
    with pytest.raises(FeedFormatError) as caught:
        open_feed(write(tmp_path / "feed.csv", garbage))
    assert str(caught.value) == (
        "the file is binary data, not a CSV or XML feed (a NUL byte on line 1, byte 61): check the feed's URL"
    )


def test_control_characters_without_nuls_are_binary_too(tmp_path: Path) -> None:
    garbage = bytes([1, 2, 3, 4, 5, 65, 66, 67]) * 100
    with pytest.raises(FeedFormatError, match=r"^the file is binary data, not a CSV or XML feed \(500 control bytes"):
        open_feed(write(tmp_path / "feed.csv", garbage))


@pytest.mark.parametrize(
    ("magic", "named"),
    [(b"%PDF-1.7\n", "a PDF document"), (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Excel/Word file")],
)
def test_known_file_types_are_named(tmp_path: Path, magic: bytes, named: str) -> None:
    with pytest.raises(FeedFormatError, match=f"^the file is {named}"):
        open_feed(write(tmp_path / "feed", magic + b"\x00" * 100))


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FeedFormatError, match=r"^the feed is empty \(uncompressed, 0 bytes\)"):
        open_feed(write(tmp_path / "feed.csv", b""))
    with pytest.raises(FeedFormatError, match=r"^the feed is empty \(gzip, 0 bytes\)"):
        open_feed(write(tmp_path / "feed.gz", b"", compress="gzip"))


def test_a_missing_file_is_a_download_error(tmp_path: Path) -> None:
    with pytest.raises(FeedDownloadError, match=r"does not exist$"):
        open_feed(tmp_path / "nope.csv")


def test_preview_shows_the_first_rows_without_reading_the_rest(tmp_path: Path) -> None:
    path = write(tmp_path / "feed.csv", "sku;stock\n" + "".join(f"A{i};{i}\n" for i in range(1000)), compress="gzip")
    shown = preview(path, n=3)
    assert shown.headers == ["sku", "stock"]
    assert shown.rows == [
        (2, {"sku": "A0", "stock": "0"}),
        (3, {"sku": "A1", "stock": "1"}),
        (4, {"sku": "A2", "stock": "2"}),
    ]
    assert shown.mapped is None
    assert shown.description == "CSV, utf-8 (detected), ';' delimited, \" quotes, gzip"
