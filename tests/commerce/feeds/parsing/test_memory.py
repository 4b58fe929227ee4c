"""Big feeds are streamed: the memory a parse needs does not grow with the number of rows.

tracemalloc makes Python several times slower, so the XML feed (slower to parse) is smaller, and the traced
work is parsing only (mapping a row makes nothing that outlives the row); both feeds are many times bigger
than the peak they are allowed."""

from __future__ import annotations

import gzip
import tracemalloc
from pathlib import Path

from conveyor.commerce.feeds.errors import RowError
from conveyor.commerce.feeds.parsing import open_feed
from tests.commerce.feeds.parsing.files import ean13

ROWS = 200_000
PEAK_LIMIT = 4 * 1024 * 1024


def peak_while_parsing(path: Path) -> tuple[int, int]:
    """(rows read, peak bytes traced) over opening and reading the whole feed."""
    tracemalloc.start()
    try:
        count = 0
        with open_feed(path) as feed:
            for _, row in feed.rows():
                assert not isinstance(row, RowError), row
                count += 1
        return count, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_200k_row_gzipped_cp1250_csv_is_parsed_in_flat_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.csv.gz"
    with gzip.open(path, "wt", encoding="cp1250", newline="") as out:
        out.write("kód;EAN;název;sklad;dodání;cena\r\n")
        out.write(
            "".join(f"SKU-{i:07d};{ean13(i)};Žluťoučký kůň {i};{i % 40};{i % 5};{i % 1000},50\r\n" for i in range(ROWS))
        )
    count, peak = peak_while_parsing(path)
    assert count == ROWS
    assert peak < PEAK_LIMIT, f"peak {peak / 1e6:.1f} MB"


def test_a_50k_item_xml_feed_is_parsed_in_flat_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.xml"
    with path.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="utf-8"?>\n<SHOP>\n')
        out.write(
            "".join(
                f"<SHOPITEM><ITEM_ID>SKU-{i}</ITEM_ID><EAN>{ean13(i)}</EAN><STOCK>{i % 40}</STOCK>"
                f"<PRODUCTNAME>Zażółć gęślą jaźń {i}</PRODUCTNAME></SHOPITEM>\n"
                for i in range(ROWS // 4)
            )
        )
        out.write("</SHOP>\n")
    count, peak = peak_while_parsing(path)
    assert count == ROWS // 4
    assert peak < PEAK_LIMIT, f"peak {peak / 1e6:.1f} MB for a file of {path.stat().st_size / 1e6:.1f} MB"
