"""Encodings: detected (UTF-8 with or without BOM, cp1250, ISO-8859-2) or declared, and declarations that lie."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.commerce.feeds.errors import FeedEncodingError
from conveyor.commerce.feeds.parsing import open_feed
from tests.commerce.feeds.parsing.files import CZECH, POLISH, good_rows, write


def names(path: Path, **kwargs: str) -> tuple[str, list[str]]:
    with open_feed(path, **kwargs) as feed:  # type: ignore[arg-type]
        found = [row["name"] for _, row in good_rows(feed)]
        return feed.encoding, found


@pytest.mark.parametrize(
    ("encoding", "text", "detected"),
    [
        ("cp1250", CZECH, "cp1250"),
        ("iso-8859-2", POLISH, "iso8859-2"),
        ("cp1250", POLISH, "cp1250"),
        ("iso-8859-2", CZECH, "iso8859-2"),
        ("utf-8", CZECH + " " + POLISH, "utf-8"),
        ("utf-8-sig", CZECH, "utf-8"),
    ],
)
def test_encoding_is_detected(tmp_path: Path, encoding: str, text: str, detected: str) -> None:
    path = write(tmp_path / "feed.csv", f"sku;name\nA1;{text}\nA2;{text.upper()}\n", encoding)
    assert names(path) == (detected, [text, text.upper()])


def test_utf8_bom_is_not_part_of_the_first_header(tmp_path: Path) -> None:
    with open_feed(write(tmp_path / "feed.csv", f"sku;name\nA1;{CZECH}\n", "utf-8-sig")) as feed:
        assert feed.headers == ["sku", "name"]
        assert feed.guess.bom


def test_text_of_only_letters_both_code_pages_share_reads_the_same_either_way(tmp_path: Path) -> None:
    path = write(tmp_path / "feed.csv", "sku;name\nA1;Čerstvé máslo ř\n", "cp1250")
    assert names(path) == ("cp1250", ["Čerstvé máslo ř"])


def test_an_ascii_start_then_cp1250_later_is_settled_by_the_first_non_ascii_line(tmp_path: Path) -> None:
    head = "sku;name\n" + "".join(f"A{i};plain ascii name\n" for i in range(5000))  # > the 64 KB sample
    path = write(tmp_path / "feed.csv", head + f"B1;{CZECH}\n", "cp1250")
    encoding, found = names(path)
    assert (encoding, found[-1]) == ("cp1250", CZECH)


def test_an_ascii_start_then_utf8_later_stays_utf8(tmp_path: Path) -> None:
    head = "sku;name\n" + "".join(f"A{i};plain ascii name\n" for i in range(5000))
    path = write(tmp_path / "feed.csv", head + f"B1;{POLISH}\n", "utf-8")
    encoding, found = names(path)
    assert (encoding, found[-1]) == ("utf-8", POLISH)


def test_declared_encoding_is_used(tmp_path: Path) -> None:
    path = write(tmp_path / "feed.csv", f"sku;name\nA1;{POLISH}\n", "iso-8859-2")
    assert names(path, encoding="latin2") == ("iso8859-2", [POLISH])


def test_declared_utf8_on_a_cp1250_feed_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path / "feed.csv", f"sku;name\nA1;plain\nA2;{CZECH}\n", "cp1250")
    with open_feed(path, encoding="utf-8") as feed, pytest.raises(FeedEncodingError) as caught:
        list(feed.rows())
    assert str(caught.value) == (
        "line 3: the bytes do not decode as utf-8 (declared): byte 0x8E at column 4; the declared encoding is "
        "wrong: declare the feed's real one (cp1250? iso-8859-2?) or leave it empty"
    )


def test_declared_cp1250_on_a_utf8_feed_is_refused_before_it_becomes_mojibake(tmp_path: Path) -> None:
    path = write(tmp_path / "feed.csv", f"sku;name\nA1;plain\nA2;{CZECH}\n", "utf-8")
    with pytest.raises(FeedEncodingError) as caught:
        open_feed(path, encoding="windows-1250")
    mojibake = f"A2;{CZECH}".encode().decode("cp1250", "replace")
    assert str(caught.value) == (
        f"line 3: the import task declares cp1250 but the feed is UTF-8 ('A2;{CZECH}' would read as "
        f"{mojibake!r}): declare utf-8, or leave the encoding empty to detect it"
    )


def test_declared_iso_8859_2_on_a_cp1250_feed_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "feed.csv", f"sku;name\nA1;{CZECH}\n", "cp1250")
    with pytest.raises(FeedEncodingError) as caught:
        open_feed(path, encoding="iso-8859-2")
    assert str(caught.value) == (
        "line 2: the import task declares iso8859-2 but byte 0x8E is a control character there (in cp1250 it "
        "is 'Ž'): the feed is probably cp1250; declare cp1250, or leave the encoding empty to detect it"
    )


def test_a_utf8_bom_under_a_single_byte_declaration_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "feed.csv", "sku;name\nA1;x\n", "utf-8-sig")
    with pytest.raises(FeedEncodingError, match=r"^the feed starts with a UTF-8 byte order mark but the import task"):
        open_feed(path, encoding="cp1250")


def test_a_line_in_another_encoding_later_in_a_detected_utf8_feed_is_named(tmp_path: Path) -> None:
    content = f"sku;name\nA1;{POLISH}\n".encode() + "".join(f"A{i};x\n" for i in range(20000)).encode()
    path = write(tmp_path / "feed.csv", content + f"B;{CZECH}\n".encode("cp1250"))
    with open_feed(path) as feed, pytest.raises(FeedEncodingError) as caught:
        list(feed.rows())
    assert str(caught.value).startswith("line 20003: the bytes do not decode as utf-8 (detected): byte 0x8E")
    assert str(caught.value).endswith(
        "the feed mixes encodings: declare the encoding of the import task (cp1250? iso-8859-2?)"
    )


def test_unknown_encoding_name_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "feed.csv", "sku\nA1\n")
    with pytest.raises(FeedEncodingError, match=r"^unknown encoding 'win-1250': use a name like utf-8, cp1250"):
        open_feed(path, encoding="win-1250")


def test_utf16_is_refused_with_advice(tmp_path: Path) -> None:
    path = write(tmp_path / "feed.csv", "sku;name\nA1;x\n", "utf-16")
    with pytest.raises(FeedEncodingError, match=r"^the feed is UTF-16 .*ask the supplier for UTF-8$"):
        open_feed(path)
    with pytest.raises(FeedEncodingError, match=r"^encoding 'utf-16' is not supported"):
        open_feed(write(tmp_path / "plain.csv", "sku\n"), encoding="utf-16")
